#include "embedded/node_report.h"

#include <stdio.h>
#include <string.h>
#include <jansson.h>

char *node_report_format(const node_report *r)
{
    json_t *doc = json_pack("{s:I, s:I, s:s, s:s}", "seq", (json_int_t)r->seq, "time_ms", (json_int_t)r->time_ms,
                            "api", r->api, "nats", r->nats);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

int node_report_parse(const char *data, size_t len, node_report *out)
{
    json_t *doc = json_loadb(data, len, 0, NULL);
    json_int_t seq = -1, time_ms = 0;
    const char *api = "", *nats = "";
    int rc = doc && json_unpack(doc, "{s:I, s:I, s?s, s?s}", "seq", &seq, "time_ms", &time_ms, "api", &api, "nats",
                                &nats) == 0 && seq >= 0 && strlen(api) < sizeof out->api &&
                     strlen(nats) < sizeof out->nats ? 0 : -1;
    if (rc == 0) {
        out->seq = seq;
        out->time_ms = time_ms;
        snprintf(out->api, sizeof out->api, "%s", api);
        snprintf(out->nats, sizeof out->nats, "%s", nats);
    }
    json_decref(doc);
    return rc;
}
