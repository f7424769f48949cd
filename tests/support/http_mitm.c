#include "http_mitm.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include "raw_socket.h"

#define HEAD_MAX 65536
#define BODY_MAX (64 * 1024 * 1024)
#define READ_TIMEOUT_MS 10000
#define CAPTURED_MAX 64
#define RELAYS_MAX 32

struct http_mitm {
    int listen_fd;
    unsigned port, upstream_port;
    char url[64];
    mitm_answer_fn answer;
    void *ctx;
    pthread_t acceptor;
    pthread_mutex_t lock;
    pthread_cond_t relays_done;
    int client_fds[RELAYS_MAX]; /* of the relays running, -1 when free */
    size_t nrelays;
    http_message captured[CAPTURED_MAX]; /* a ring of the latest requests */
    size_t ncaptured;
};

static bool read_some(int fd, http_message *m, size_t cap)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, READ_TIMEOUT_MS) <= 0)
        return false;
    ssize_t n = recv(fd, m->data + m->len, cap - m->len, 0);
    if (n <= 0)
        return false;
    m->len += (size_t)n;
    m->data[m->len] = '\0';
    return true;
}

static size_t content_length(const http_message *m)
{
    char value[32];
    return http_message_header(m, "Content-Length", value, sizeof value) ? strtoul(value, NULL, 10) : 0;
}

bool http_message_read(int fd, http_message *out)
{
    memset(out, 0, sizeof *out);
    out->data = calloc(1, HEAD_MAX + 1);
    char *end = NULL;
    while (out->data && !(end = strstr(out->data, "\r\n\r\n")))
        if (out->len == HEAD_MAX || !read_some(fd, out, HEAD_MAX))
            return http_message_free(out), false;
    out->head_len = (size_t)(end - out->data) + 4;
    size_t total = out->head_len + content_length(out);
    char *grown = total <= BODY_MAX ? realloc(out->data, total + 1) : NULL;
    if (!grown)
        return http_message_free(out), false;
    out->data = grown;
    while (out->len < total)
        if (!read_some(fd, out, total))
            return http_message_free(out), false;
    return true;
}

void http_message_free(http_message *m)
{
    free(m->data);
    memset(m, 0, sizeof *m);
}

static bool copy_message(const http_message *from, http_message *to)
{
    *to = *from;
    to->data = malloc(from->len + 1);
    if (to->data)
        memcpy(to->data, from->data, from->len + 1);
    return to->data != NULL;
}

/* The value's start and length within the head, or NULL. */
static char *find_header(const http_message *m, const char *name, size_t *len)
{
    size_t name_len = strlen(name);
    for (char *line = strstr(m->data, "\r\n"); line && (size_t)(line - m->data) + 2 < m->head_len;
         line = strstr(line + 2, "\r\n")) {
        char *h = line + 2;
        if (strncasecmp(h, name, name_len) != 0 || h[name_len] != ':')
            continue;
        char *v = h + name_len + 1;
        while (*v == ' ')
            v++;
        *len = strcspn(v, "\r");
        return v;
    }
    return NULL;
}

bool http_message_header(const http_message *m, const char *name, char *out, size_t cap)
{
    size_t len;
    const char *v = m->data ? find_header(m, name, &len) : NULL;
    if (!v || len >= cap)
        return false;
    memcpy(out, v, len);
    out[len] = '\0';
    return true;
}

bool http_message_set_header(http_message *m, const char *name, const char *value)
{
    size_t len;
    char *v = m->data ? find_header(m, name, &len) : NULL;
    if (!v || len != strlen(value))
        return false;
    memcpy(v, value, len);
    return true;
}

int http_message_status(const http_message *m)
{
    int status = 0;
    return m->data && sscanf(m->data, "HTTP/1.%*d %d", &status) == 1 ? status : 0;
}

static void capture(http_mitm *m, const http_message *request)
{
    pthread_mutex_lock(&m->lock);
    http_message *slot = &m->captured[m->ncaptured++ % CAPTURED_MAX];
    http_message_free(slot);
    copy_message(request, slot);
    pthread_mutex_unlock(&m->lock);
}

bool mitm_captured(http_mitm *m, const char *prefix, http_message *out)
{
    bool found = false;
    pthread_mutex_lock(&m->lock);
    size_t oldest = m->ncaptured > CAPTURED_MAX ? m->ncaptured - CAPTURED_MAX : 0;
    for (size_t i = m->ncaptured; i-- > oldest && !found;) {
        const http_message *c = &m->captured[i % CAPTURED_MAX];
        found = strncmp(c->data, prefix, strlen(prefix)) == 0 && copy_message(c, out);
    }
    pthread_mutex_unlock(&m->lock);
    return found;
}

typedef struct {
    http_mitm *m;
    int client_fd;
} relay_job;

/* Each request of one client connection, over one upstream connection. */
static void *relay(void *arg)
{
    relay_job *job = arg;
    http_mitm *m = job->m;
    int upstream = raw_connect(m->upstream_port, NULL);
    http_message request, response;
    while (upstream >= 0 && http_message_read(job->client_fd, &request)) {
        capture(m, &request);
        memset(&response, 0, sizeof response);
        bool answered = (m->answer && m->answer(m->ctx, &request, &response)) ||
                        (raw_send(upstream, request.data, request.len) == request.len &&
                         http_message_read(upstream, &response));
        if (answered)
            raw_send(job->client_fd, response.data, response.len);
        http_message_free(&request);
        if (!answered)
            break;
        http_message_free(&response);
    }
    if (upstream >= 0)
        close(upstream);
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < RELAYS_MAX; i++)
        if (m->client_fds[i] == job->client_fd)
            m->client_fds[i] = -1;
    close(job->client_fd);
    if (--m->nrelays == 0)
        pthread_cond_signal(&m->relays_done);
    pthread_mutex_unlock(&m->lock);
    free(job);
    return NULL;
}

static bool note_relay(http_mitm *m, int fd)
{
    pthread_mutex_lock(&m->lock);
    size_t i = 0;
    while (i < RELAYS_MAX && m->client_fds[i] >= 0)
        i++;
    if (i < RELAYS_MAX) {
        m->client_fds[i] = fd;
        m->nrelays++;
    }
    pthread_mutex_unlock(&m->lock);
    return i < RELAYS_MAX;
}

static void *accept_loop(void *arg)
{
    http_mitm *m = arg;
    for (;;) {
        int fd = accept(m->listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL; /* mitm_stop shut the socket down */
        relay_job *job = malloc(sizeof *job);
        pthread_t t;
        *job = (relay_job){m, fd};
        if (!note_relay(m, fd)) {
            close(fd);
            free(job);
            continue;
        }
        pthread_create(&t, NULL, relay, job);
        pthread_detach(t);
    }
}

http_mitm *mitm_start(unsigned upstream_port, mitm_answer_fn answer, void *ctx)
{
    http_mitm *m = calloc(1, sizeof *m);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof addr;
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    m->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m->listen_fd < 0 || bind(m->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(m->listen_fd, 16) != 0 || getsockname(m->listen_fd, (struct sockaddr *)&addr, &len) != 0)
        abort();
    m->port = ntohs(addr.sin_port);
    m->upstream_port = upstream_port;
    snprintf(m->url, sizeof m->url, "http://127.0.0.1:%u", m->port);
    m->answer = answer;
    m->ctx = ctx;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->relays_done, NULL);
    for (size_t i = 0; i < RELAYS_MAX; i++)
        m->client_fds[i] = -1;
    pthread_create(&m->acceptor, NULL, accept_loop, m);
    return m;
}

unsigned mitm_port(const http_mitm *m)
{
    return m->port;
}

const char *mitm_url(const http_mitm *m)
{
    return m->url;
}

/* Hangs up on every client still connected and waits for its relay. */
void mitm_stop(http_mitm *m)
{
    shutdown(m->listen_fd, SHUT_RDWR);
    pthread_join(m->acceptor, NULL);
    close(m->listen_fd);
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < RELAYS_MAX; i++)
        if (m->client_fds[i] >= 0)
            shutdown(m->client_fds[i], SHUT_RDWR);
    while (m->nrelays > 0)
        pthread_cond_wait(&m->relays_done, &m->lock);
    pthread_mutex_unlock(&m->lock);
    pthread_cond_destroy(&m->relays_done);
    for (size_t i = 0; i < CAPTURED_MAX; i++)
        http_message_free(&m->captured[i]);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

bool http_replay(unsigned port, const http_message *request, http_message *response)
{
    int fd = raw_connect(port, NULL);
    bool ok = fd >= 0 && raw_send(fd, request->data, request->len) == request->len &&
              http_message_read(fd, response);
    if (fd >= 0)
        close(fd);
    return ok;
}
