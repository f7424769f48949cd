#include "embedded/nats_monitor.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#define CONNZ_PAGE 1024

typedef struct {
    char *data;
    size_t len;
    bool too_big;
} body;

static size_t collect(char *chunk, size_t size, size_t n, void *arg)
{
    body *b = arg;
    size_t add = size * n;
    if (b->len + add > NATS_MONITOR_BODY_MAX) {
        b->too_big = true;
        return 0;
    }
    char *grown = realloc(b->data, b->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, chunk, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

static CURLcode fetch(const nats_monitor *m, const char *url, body *b, long *status)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        return CURLE_FAILED_INIT;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*"); /* loopback, never through a proxy */
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, m->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(curl);
    return rc;
}

int nats_monitor_get(const nats_monitor *m, const char *path, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    char url[512];
    bool v6 = strchr(m->host, ':') != NULL;
    snprintf(url, sizeof url, "http://%s%s%s:%u%s", v6 ? "[" : "", m->host, v6 ? "]" : "", m->port, path);
    body b = {0};
    long status = 0;
    CURLcode rc = fetch(m, url, &b, &status);
    if (rc != CURLE_OK)
        snprintf(err, errlen, "nats-server monitoring at %s: %s", url,
                 b.too_big ? "answer too large" : curl_easy_strerror(rc));
    else if (status != 200)
        snprintf(err, errlen, "nats-server monitoring at %s answered HTTP %ld", url, status);
    else if (!(*out = json_loadb(b.data ? b.data : "", b.len, 0, NULL)) || !json_is_object(*out))
        snprintf(err, errlen, "nats-server monitoring at %s did not answer a JSON object", url);
    free(b.data);
    if (*out && json_is_object(*out))
        return 0;
    json_decref(*out);
    *out = NULL;
    return -1;
}

/* One page; *listed is how many connections it held. */
static int connz_page(const nats_monitor *m, size_t offset, nats_monitor_conn_fn fn, void *ctx, size_t *listed,
                      char *err, size_t errlen)
{
    char path[96];
    snprintf(path, sizeof path, "/connz?auth=true&limit=%d&offset=%zu", CONNZ_PAGE, offset);
    json_t *page;
    if (nats_monitor_get(m, path, &page, err, errlen) != 0)
        return -1;
    json_t *conns = json_object_get(page, "connections");
    int rc = 0;
    *listed = json_array_size(conns);
    if (conns && !json_is_array(conns)) {
        snprintf(err, errlen, "nats-server monitoring: /connz has no connection list");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < *listed; i++)
        rc = fn(json_array_get(conns, i), ctx);
    json_decref(page);
    return rc;
}

int nats_monitor_connections(const nats_monitor *m, nats_monitor_conn_fn fn, void *ctx, char *err, size_t errlen)
{
    size_t offset = 0, listed = 0;
    int rc;
    do {
        rc = connz_page(m, offset, fn, ctx, &listed, err, errlen);
        offset += listed;
    } while (rc == 0 && listed == CONNZ_PAGE);
    return rc;
}
