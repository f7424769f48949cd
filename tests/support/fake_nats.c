#include "fake_nats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "busauth/nkey.h"
#include "busauth/signing.h"

typedef struct {
    int fd;
    SSL *ssl;
} peer_io;

static bool is_stopping(fake_nats *f)
{
    pthread_mutex_lock(&f->lock);
    bool stopping = f->stopping;
    pthread_mutex_unlock(&f->lock);
    return stopping;
}

static bool io_write(peer_io *io, const char *text)
{
    size_t len = strlen(text);
    if (io->ssl)
        return SSL_write(io->ssl, text, (int)len) == (int)len;
    return send(io->fd, text, len, MSG_NOSIGNAL) == (ssize_t)len;
}

/* One protocol line without its CRLF; false at EOF, on error or when the
 * fake is stopping. */
static bool io_read_line(fake_nats *f, peer_io *io, char *line, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (!(io->ssl && SSL_pending(io->ssl))) {
            struct pollfd p = {.fd = io->fd, .events = POLLIN};
            int ready = poll(&p, 1, 100);
            if (is_stopping(f))
                return false;
            if (ready <= 0)
                continue;
        }
        char c;
        int got = io->ssl ? SSL_read(io->ssl, &c, 1) : (int)recv(io->fd, &c, 1, 0);
        if (got != 1)
            return false;
        if (c == '\n')
            break;
        if (c != '\r')
            line[n++] = c;
    }
    line[n] = '\0';
    return true;
}

static char *info_line(const fake_nats *f, const char *nonce)
{
    json_t *info = json_pack("{s:s, s:s, s:i, s:s, s:i, s:b, s:i, s:b, s:b}", "server_id", "NFAKE", "version",
                             "2.9.10", "proto", 1, "host", "127.0.0.1", "port", (int)f->port, "headers", 1,
                             "max_payload", 1048576, "auth_required", 1, "tls_required", f->tls != NULL);
    if (nonce)
        json_object_set_new(info, "nonce", json_string(nonce));
    char *body = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    char *line = NULL;
    if (body && asprintf(&line, "INFO %s\r\n", body) < 0)
        line = NULL;
    free(body);
    return line;
}

/* Whether the CONNECT's sig verifies over nonce under its nkey. */
static bool login_verifies(const char *connect_json, const char *nonce)
{
    json_t *c = json_loads(connect_json, 0, NULL);
    const char *nkey = json_string_value(json_object_get(c, "nkey"));
    const char *sig = json_string_value(json_object_get(c, "sig"));
    uint8_t pk[BUSAUTH_KEY_BYTES];
    bool ok = nonce && nkey && sig && busauth_nkey_decode_public(nkey, pk) == BUSAUTH_OK &&
              busauth_verify_text(pk, nonce, strlen(nonce), sig) == BUSAUTH_OK;
    json_decref(c);
    return ok;
}

static void record_connect(fake_nats *f, const char *json)
{
    json_t *c = json_loads(json, 0, NULL);
    bool has_sig = json_object_get(c, "sig") != NULL, has_nkey = json_object_get(c, "nkey") != NULL;
    json_decref(c);
    pthread_mutex_lock(&f->lock);
    f->signed_connects += has_sig;
    f->unsigned_nkey_connects += has_nkey && !has_sig;
    if (f->connect_count < FAKE_NATS_MAX_CONNECTS) { /* a longer one is cut, and then reads as no JSON */
        char *slot = f->connects[f->connect_count++];
        size_t n = strnlen(json, sizeof f->connects[0] - 1);
        memcpy(slot, json, n);
        slot[n] = '\0';
    }
    pthread_mutex_unlock(&f->lock);
}

static bool trickle(fake_nats *f, peer_io *io, const char *text)
{
    for (; *text && !is_stopping(f); text++) {
        if (!io_write(io, (char[]){*text, '\0'}))
            return false;
        nanosleep(&(struct timespec){0, f->script.trickle_ms * 1000000L}, NULL);
    }
    return !*text;
}

static bool start_tls(fake_nats *f, peer_io *io)
{
    io->ssl = SSL_new(f->tls);
    return io->ssl && SSL_set_fd(io->ssl, io->fd) == 1 && SSL_accept(io->ssl) == 1;
}

/* INFO, (TLS), CONNECT + PING, then PONG or -ERR; a verified login is
 * served PONGs until the client hangs up. */
static void serve(fake_nats *f, peer_io *io, const char *nonce)
{
    bool ok = true;
    if (f->tls && f->script.tls_first)
        ok = start_tls(f, io);
    char *info = info_line(f, nonce);
    ok = ok && info && (f->script.trickle_ms ? trickle(f, io, info) : io_write(io, info));
    free(info);
    if (ok && f->tls && !io->ssl)
        ok = start_tls(f, io);
    static __thread char line[65536];
    bool verified = false;
    while (ok && io_read_line(f, io, line, sizeof line)) {
        if (strncmp(line, "CONNECT ", 8) == 0) {
            record_connect(f, line + 8);
            verified = !f->script.refuse && login_verifies(line + 8, nonce);
        } else if (strcmp(line, "PING") == 0) {
            /* After a refusal the client hangs up: closing first could reset
             * the connection before it has read the -ERR. */
            ok = io_write(io, verified ? "PONG\r\n" : "-ERR 'Authorization Violation'\r\n");
        }
    }
}

static int connect_upstream(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void watch_nonce(fake_nats *f, const char *info_json)
{
    json_t *info = json_loads(info_json, 0, NULL);
    const char *nonce = json_string_value(json_object_get(info, "nonce"));
    uint8_t sig[BUSAUTH_SIGNATURE_BYTES];
    if (nonce && f->script.watch) {
        busauth_identity_sign(f->script.watch, (const uint8_t *)nonce, strlen(nonce), sig);
        pthread_mutex_lock(&f->lock);
        f->zero_lead_nonces += sig[0] == 0x00;
        pthread_mutex_unlock(&f->lock);
    }
    json_decref(info);
}

/* The server's INFO (its nonce read), the client's CONNECT (recorded),
 * then bytes both ways until either side hangs up. */
static void relay(fake_nats *f, peer_io *client)
{
    peer_io server = {connect_upstream(f->script.relay_to), NULL};
    static __thread char line[65536];
    bool ok = server.fd >= 0 && io_read_line(f, &server, line, sizeof line) && strncmp(line, "INFO ", 5) == 0;
    if (ok)
        watch_nonce(f, line + 5);
    ok = ok && io_write(client, line) && io_write(client, "\r\n") && io_read_line(f, client, line, sizeof line);
    if (ok && strncmp(line, "CONNECT ", 8) == 0)
        record_connect(f, line + 8);
    ok = ok && io_write(&server, line) && io_write(&server, "\r\n");
    while (ok && !is_stopping(f)) {
        struct pollfd p[2] = {{.fd = client->fd, .events = POLLIN}, {.fd = server.fd, .events = POLLIN}};
        if (poll(p, 2, 100) <= 0)
            continue;
        for (int i = 0; i < 2 && ok; i++) {
            char buf[4096];
            ssize_t n = (p[i].revents & (POLLIN | POLLHUP | POLLERR)) ? recv(p[i].fd, buf, sizeof buf, 0) : -2;
            ok = n != 0 && n != -1 && (n == -2 || send(p[1 - i].fd, buf, (size_t)n, MSG_NOSIGNAL) == n);
        }
    }
    if (server.fd >= 0)
        close(server.fd);
}

static void *accept_loop(void *arg)
{
    fake_nats *f = arg;
    while (!is_stopping(f)) {
        struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(f->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&f->lock);
        int i = f->connections++;
        pthread_mutex_unlock(&f->lock);
        int last = f->script.nonce_count - 1;
        const char *nonce = last < 0 ? NULL : f->script.nonces[i < last ? i : last];
        peer_io io = {fd, NULL};
        if (f->script.relay_to)
            relay(f, &io);
        else
            serve(f, &io, nonce);
        if (io.ssl)
            SSL_shutdown(io.ssl);
        SSL_free(io.ssl);
        close(fd);
    }
    return NULL;
}

static int listen_on(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int waited = 0; bind(fd, (struct sockaddr *)&a, sizeof a) != 0; waited += 10) {
        if (errno != EADDRINUSE || waited >= 3000) {
            close(fd);
            return -1;
        }
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    if (listen(fd, 16) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static SSL_CTX *server_tls(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx && SSL_CTX_use_certificate_chain_file(ctx, cert) == 1 &&
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1)
        return ctx;
    SSL_CTX_free(ctx);
    return NULL;
}

int fake_nats_start(fake_nats *f, unsigned port, const fake_nats_script *script)
{
    memset(f, 0, sizeof *f);
    f->script = *script;
    pthread_mutex_init(&f->lock, NULL);
    f->listen_fd = listen_on(port);
    if (f->listen_fd < 0)
        return -1;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(f->listen_fd, (struct sockaddr *)&a, &len);
    f->port = ntohs(a.sin_port);
    if (script->tls_cert && !(f->tls = server_tls(script->tls_cert, script->tls_key))) {
        close(f->listen_fd);
        return -1;
    }
    if (pthread_create(&f->thread, NULL, accept_loop, f) != 0) {
        SSL_CTX_free(f->tls);
        close(f->listen_fd);
        return -1;
    }
    return 0;
}

int fake_nats_take_over(fake_nats *f, const harness_server *h, unsigned port, const fake_nats_script *script)
{
    pid_t child = harness_nats_pid(h);
    if (child <= 0)
        return -1;
    kill(h->pid, SIGSTOP);
    kill(child, SIGKILL);
    int rc = fake_nats_start(f, port, script);
    kill(h->pid, SIGCONT);
    return rc;
}

void fake_nats_stop(fake_nats *f)
{
    pthread_mutex_lock(&f->lock);
    f->stopping = true;
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
    SSL_CTX_free(f->tls);
    pthread_mutex_destroy(&f->lock);
}

int fake_nats_connections(fake_nats *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->connections;
    pthread_mutex_unlock(&f->lock);
    return n;
}

int fake_nats_signed_connects(fake_nats *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->signed_connects;
    pthread_mutex_unlock(&f->lock);
    return n;
}

int fake_nats_unsigned_nkey_connects(fake_nats *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->unsigned_nkey_connects;
    pthread_mutex_unlock(&f->lock);
    return n;
}

int fake_nats_zero_lead_nonces(fake_nats *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->zero_lead_nonces;
    pthread_mutex_unlock(&f->lock);
    return n;
}

bool fake_nats_connect_json(fake_nats *f, int i, char *out, size_t len)
{
    pthread_mutex_lock(&f->lock);
    bool found = i >= 0 && i < f->connect_count;
    if (found)
        snprintf(out, len, "%s", f->connects[i]);
    pthread_mutex_unlock(&f->lock);
    return found;
}
