#include "embedded/nats_probe.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/err.h>
#include "busauth/nkey.h"
#include "busauth/signing.h"
#include "embedded/clock.h"
#include "embedded/nats_auth.h"
#include "embedded/tls_pin.h"

#define LINE_MAX_BYTES 16384 /* an INFO line, with room for a cluster's connect_urls */
#define REPLY_LINES 8        /* +OK, INFO updates, then PONG or -ERR */

typedef struct {
    const nats_probe_target *t;
    int64_t deadline_ms;      /* the whole probe's: an impostor cannot stall it byte by byte */
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    X509 *pinned;
    char *err;
    size_t errlen;
} probe;

__attribute__((format(printf, 2, 3))) static int fail(probe *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* 0 once the (non-blocking) socket may be read, or written, before the
 * deadline. */
static int await_socket(probe *p, bool for_write)
{
    int64_t left = p->deadline_ms - clock_mono_ms();
    struct pollfd pf = {.fd = p->fd, .events = for_write ? POLLOUT : POLLIN};
    return left > 0 && poll(&pf, 1, (int)left) == 1 ? 0 : -1;
}

/* After an SSL call returned rc: 0 when it only has to wait (and waited). */
static int await_ssl(probe *p, int rc)
{
    int e = SSL_get_error(p->ssl, rc);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? await_socket(p, e == SSL_ERROR_WANT_WRITE) : -1;
}

static int tcp_connect(probe *p)
{
    char service[8];
    snprintf(service, sizeof service, "%u", p->t->port);
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(p->t->host, service, &hints, &ai) != 0)
        return fail(p, "cannot resolve %s", p->t->host);
    p->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    /* TLS sends its Finished and then CONNECT as two small writes: with
     * Nagle the second waits for the server's delayed ACK, 40 ms on Linux,
     * and every change waits for this login. */
    int one = 1;
    if (p->fd >= 0)
        setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = p->fd >= 0 ? connect(p->fd, ai->ai_addr, ai->ai_addrlen) : -1;
    bool in_progress = rc != 0 && errno == EINPROGRESS;
    freeaddrinfo(ai);
    int error = 0;
    socklen_t len = sizeof error;
    if (in_progress && await_socket(p, true) == 0 &&
        getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0)
        rc = 0;
    return rc == 0 ? 0 : fail(p, "nothing answers on %s port %u", p->t->host, p->t->port);
}

static int read_byte(probe *p, char *c)
{
    for (int got; (got = SSL_read(p->ssl, c, 1)) != 1;)
        if (await_ssl(p, got) != 0)
            return -1;
    return 0;
}

/* Before TLS: what has arrived is peeked at, and only up to the line's end
 * taken, so the TLS handshake that follows INFO stays in the socket (a
 * recv per byte cost about a millisecond per reload, on a path every
 * change waits for). */
static int read_plain_line(probe *p, char line[LINE_MAX_BYTES])
{
    size_t used = 0;
    for (;;) {
        ssize_t got = recv(p->fd, line + used, LINE_MAX_BYTES - 1 - used, MSG_PEEK);
        if (got <= 0) {
            if (got == 0 || errno != EAGAIN || await_socket(p, false) != 0)
                return -1;
            continue;
        }
        char *end = memchr(line + used, '\n', (size_t)got);
        size_t take = end ? (size_t)(end - (line + used)) + 1 : (size_t)got;
        if (recv(p->fd, line + used, take, 0) != (ssize_t)take)
            return -1;
        used += take;
        if (end) {
            used -= 1 + (used >= 2 && line[used - 2] == '\r');
            line[used] = '\0';
            return 0;
        }
        if (used >= LINE_MAX_BYTES - 1)
            return -1;
    }
}

/* One line without CRLF; -1 at EOF, at the deadline or past the bound. */
static int read_line(probe *p, char line[LINE_MAX_BYTES])
{
    if (!p->ssl)
        return read_plain_line(p, line);
    size_t n = 0;
    for (char c; read_byte(p, &c) == 0;) {
        if (c == '\n') {
            line[n] = '\0';
            return 0;
        }
        if (c != '\r')
            line[n++] = c;
        if (n + 1 >= LINE_MAX_BYTES)
            return -1;
    }
    return -1;
}

static int write_text(probe *p, const char *text)
{
    size_t len = strlen(text), sent = 0;
    while (sent < len) {
        int n = p->ssl ? SSL_write(p->ssl, text + sent, (int)(len - sent))
                       : (int)send(p->fd, text + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t)n;
        else if ((p->ssl ? await_ssl(p, n) : n < 0 && errno == EAGAIN ? await_socket(p, true) : -1) != 0)
            return fail(p, "the connection to %s port %u broke", p->t->host, p->t->port);
    }
    return 0;
}

static int start_tls(probe *p)
{
    p->ctx = tls_pin_client(p->t->tls_cert, &p->pinned);
    if (!p->ctx)
        return fail(p, "cannot read a certificate from %s", p->t->tls_cert);
    p->ssl = SSL_new(p->ctx);
    if (!p->ssl || SSL_set_fd(p->ssl, p->fd) != 1)
        return fail(p, "cannot set up TLS");
    int rc;
    while ((rc = SSL_connect(p->ssl)) != 1 && await_ssl(p, rc) == 0)
        ;
    bool done = rc == 1;
    if (done && tls_pin_matches(p->ssl, p->pinned))
        return 0;
    long verify = SSL_get_verify_result(p->ssl);
    if (!done && verify == X509_V_OK)
        return fail(p, "no TLS handshake with %s port %u", p->t->host, p->t->port);
    return fail(p, "the TLS server on %s port %u does not present the certificate in %s (%s): another program holds "
                   "the data-plane port",
                p->t->host, p->t->port, p->t->tls_cert,
                verify == X509_V_OK ? "another one" : X509_verify_cert_error_string(verify));
}

/* INFO, and TLS when nats.conf has it (and only then: a plain listener
 * where TLS is configured is not ours either).  The nonce goes to nonce. */
static int greet(probe *p, char line[LINE_MAX_BYTES], const char **nonce, json_t **info)
{
    if (read_line(p, line) != 0 || strncmp(line, "INFO ", 5) != 0)
        return fail(p, "%s port %u sent no NATS INFO line within %d ms", p->t->host, p->t->port, p->t->timeout_ms);
    *info = json_loads(line + 5, 0, NULL);
    bool tls = json_is_true(json_object_get(*info, "tls_required"));
    *nonce = json_string_value(json_object_get(*info, "nonce"));
    if (tls != (p->t->tls_cert != NULL))
        return fail(p, "the NATS server on %s port %u %s TLS, membershipd's configuration %s", p->t->host,
                    p->t->port, tls ? "requires" : "does not offer", tls ? "has none" : "has it");
    return tls ? start_tls(p) : 0;
}

/* "CONNECT {...}\r\nPING\r\n", signed as id when id is given. */
static char *connect_line(probe *p, const busauth_identity *id, const char *nonce)
{
    json_t *c = json_pack("{s:b, s:b, s:b, s:s, s:s, s:s, s:i, s:b}", "verbose", 0, "pedantic", 0, "tls_required",
                          p->t->tls_cert != NULL, "name", "membershipd-probe", "lang", "C", "version",
                          UNIBUS_VERSION, "protocol", 1, "echo", 0);
    if (id && !busauth_nats_nonce_signable(nonce)) {
        json_decref(c);
        fail(p, "%s", NATS_AUTH_NONCE_REFUSED);
        return NULL;
    }
    if (id) {
        char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], sig_b64[BUSAUTH_SIG_B64_LEN + 1];
        busauth_nkey_encode_public(busauth_identity_public_key(id), nkey);
        busauth_sign_text(id, nonce, strlen(nonce), sig_b64);
        json_object_set_new(c, "nkey", json_string(nkey));
        json_object_set_new(c, "sig", json_string(sig_b64));
    }
    char *body = json_dumps(c, JSON_COMPACT), *text = NULL;
    json_decref(c);
    if (!body || asprintf(&text, "CONNECT %s\r\nPING\r\n", body) < 0)
        text = NULL;
    free(body);
    if (!text)
        fail(p, "out of memory");
    return text;
}

/* Only printable ASCII of what the server says reaches a log line. */
static void printable(char *text, size_t max)
{
    size_t n = 0;
    for (; text[n] && n < max; n++)
        if (text[n] < 0x20 || text[n] > 0x7e)
            text[n] = '?';
    text[n] = '\0';
}

static int await_pong(probe *p, char line[LINE_MAX_BYTES])
{
    for (int i = 0; i < REPLY_LINES; i++) {
        if (read_line(p, line) != 0)
            return fail(p, "%s port %u closed the connection or did not answer within %d ms", p->t->host,
                        p->t->port, p->t->timeout_ms);
        if (strcmp(line, "PONG") == 0)
            return 0;
        if (strncmp(line, "-ERR", 4) == 0) {
            printable(line, 200);
            return fail(p, "the NATS server on %s port %u refused the login: %s", p->t->host, p->t->port, line);
        }
    }
    return fail(p, "%s port %u did not answer PING", p->t->host, p->t->port);
}

int nats_auth_probe(const nats_probe_target *t, const busauth_identity *id, char *err, size_t errlen)
{
    probe p = {.t = t, .deadline_ms = clock_mono_ms() + t->timeout_ms, .fd = -1, .err = err, .errlen = errlen};
    static __thread char line[LINE_MAX_BYTES];
    const char *nonce = NULL;
    json_t *info = NULL;
    char *hello = NULL;
    int rc = tcp_connect(&p);
    if (rc == 0)
        rc = greet(&p, line, &nonce, &info);
    if (rc == 0)
        rc = (hello = connect_line(&p, id, nonce)) ? 0 : -1;
    if (rc == 0)
        rc = write_text(&p, hello);
    if (rc == 0)
        rc = await_pong(&p, line);
    free(hello);
    json_decref(info);
    SSL_free(p.ssl);
    SSL_CTX_free(p.ctx);
    X509_free(p.pinned);
    if (p.fd >= 0)
        close(p.fd);
    ERR_clear_error();
    return rc;
}
