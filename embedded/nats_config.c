#include "embedded/nats_config.h"
#include "embedded/nats_config_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "busauth/nkey.h"
#include "embedded/wiped_text.h"

/* Grants are "<prefix><room-id>.>" (dev/data-plane.md): a room's
 * subjects; the answers to requests made in a room, whoever asked (the
 * requester's nkey is the token after "unibus.reply."); and, with the
 * user's nkey in place of "*", the user's own answers there. */
#define ROOM_PREFIX "unibus.room."
#define ANY_REPLY_PREFIX NATSCONF_REPLY_PREFIX "*."
#define OWN_REPLY_PREFIX_MAX (sizeof NATSCONF_REPLY_PREFIX + BUSAUTH_NKEY_PUBLIC_LEN + 1)
#define INBOX_SUBJECT "_INBOX.%s.>"
/* What membershipd's monitoring asks (embedded/nats_monitor.c). */
#define SYSTEM_USER_REQUESTS "\"$SYS.REQ.SERVER.*.CONNZ\", \"$SYS.REQ.SERVER.*.VARZ\", \"$SYS.REQ.SERVER.*.ROUTEZ\", \"" NATSCONF_SYS_ACCOUNTS_STATZ "\""

bool natsconf_path_ok(const char *path)
{
    if (!path || !path[0])
        return false;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\' || *p == '$')
            return false;
    return true;
}

static bool host_ok(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static bool room_id_ok(const char *id)
{
    if (strlen(id) != NATSCONF_ROOM_ID_LEN)
        return false;
    return strspn(id, "0123456789abcdef") == NATSCONF_ROOM_ID_LEN;
}

static bool valid(const natsconf *c)
{
    if (!host_ok(c->host) || c->port == 0 || c->port > 65535)
        return false;
    if (!c->tls_cert != !c->tls_key)
        return false;
    if (c->tls_cert && (!natsconf_path_ok(c->tls_cert) || !natsconf_path_ok(c->tls_key)))
        return false;
    if (c->jetstream_dir && (!c->authorization || !natsconf_path_ok(c->jetstream_dir)))
        return false; /* without accounts the log would be everyone's */
    for (size_t i = 0; i < c->nusers; i++)
        for (size_t r = 0; r < c->users[i].nrooms; r++)
            if (!room_id_ok(c->users[i].room_ids[r]))
                return false;
    /* Routes carry every account: a cluster only ever with authorization. */
    return !c->cluster || (c->authorization && natsconf_cluster_valid(c->cluster));
}

/* One user's block, built in memory and handed to stdio whole: a dozen
 * stdio calls per user were a third of rendering at 10,000 users
 * (dev/bench.md).  Public keys and room ids only: nothing to wipe. */
typedef struct {
    char *text;
    size_t len, cap;
    bool failed;
} user_block;

static void put(user_block *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = 2 * (b->len + n);
        char *grown = b->failed ? NULL : realloc(b->text, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->text = grown;
        b->cap = cap;
    }
    memcpy(b->text + b->len, s, n);
    b->len += n;
}

static void put_text(user_block *b, const char *s)
{
    put(b, s, strlen(s));
}

#define PUT_LITERAL(b, lit) put(b, lit, sizeof lit - 1)

/* what: { allow: [each room's subjects, and its replies under
 * reply_prefix], deny: ["$SYS.>"] } */
static void render_grants(user_block *b, const natsconf_user *u, const char *what, const char *reply_prefix)
{
    PUT_LITERAL(b, "      ");
    put_text(b, what);
    PUT_LITERAL(b, ": { allow: [");
    size_t prefix_len = strlen(reply_prefix);
    for (size_t r = 0; r < u->nrooms; r++) {
        if (r)
            PUT_LITERAL(b, ", ");
        PUT_LITERAL(b, "\"" ROOM_PREFIX);
        put(b, u->room_ids[r], NATSCONF_ROOM_ID_LEN);
        PUT_LITERAL(b, ".>\", \"");
        put(b, reply_prefix, prefix_len);
        put(b, u->room_ids[r], NATSCONF_ROOM_ID_LEN);
        PUT_LITERAL(b, ".>\"");
    }
    PUT_LITERAL(b, "], deny: [\"$SYS.>\"] }\n");
}

/* In its rooms a user may publish anything, answers to anyone's requests
 * included, and subscribe to anything but others' answers: so only a
 * room's members write an answer and only its requester reads it, and a
 * removed member loses both at once.  No reply permission is granted:
 * nats-server 2.9 grants it on a client's own echo too, which made it a
 * right to publish on any subject at all (dev/data-plane.md). */
static void build_user(user_block *b, const natsconf_user *u)
{
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], own_replies[OWN_REPLY_PREFIX_MAX];
    busauth_nkey_encode_public(u->public_key, nkey);
    b->len = 0;
    PUT_LITERAL(b, "    { nkey: \"");
    put(b, nkey, BUSAUTH_NKEY_PUBLIC_LEN);
    PUT_LITERAL(b, "\", permissions: {\n");
    /* An empty allow list means "allow everything" to nats-server: a user
     * without rooms is denied every subject instead. */
    if (u->nrooms == 0) {
        PUT_LITERAL(b, "      publish: { deny: [\">\"] }\n      subscribe: { deny: [\">\"] }\n    } }\n");
    } else {
        snprintf(own_replies, sizeof own_replies, NATSCONF_REPLY_PREFIX "%s.", nkey);
        render_grants(b, u, "publish", ANY_REPLY_PREFIX);
        render_grants(b, u, "subscribe", own_replies);
        PUT_LITERAL(b, "    } }\n");
    }
}

/* From the blocks kept (rendering a change at 10,000 users: 5.6 -> 4.7 ms
 * of CPU), or built and kept. */
static void render_user(FILE *f, user_block *b, const natsconf_user *u, natsconf_blocks *kept)
{
    size_t len;
    const char *text = kept ? natsconf_blocks_find(kept, u, &len) : NULL;
    if (text) {
        fwrite(text, 1, len, f);
        return;
    }
    build_user(b, u);
    if (b->failed)
        return;
    fwrite(b->text, 1, b->len, f);
    if (kept)
        natsconf_blocks_keep(kept, u, b->text, b->len);
}

/* A user on its way out, or membershipd's own: logs in, may do nothing. */
static void render_denied_user(FILE *f, const uint8_t key[32])
{
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(key, nkey);
    fprintf(f, "    { nkey: \"%s\", permissions: { publish: { deny: [\">\"] }, subscribe: { deny: [\">\"] } } }\n",
            nkey);
}

/* The peers' account.  membershipd's own user is always listed: an
 * account whose users all go would turn authentication off (nats-server
 * 2.9).  Retiring users are the first of a removal's two reloads
 * (dev/cluster.md, "Removing a user"). */
static int render_peers_account(FILE *f, const natsconf *c)
{
    fprintf(f, "  " NATSCONF_PEERS_ACCOUNT ": {\n    users = [\n");
    render_denied_user(f, c->internal_key);
    user_block b = {0};
    if (c->blocks)
        natsconf_blocks_begin(c->blocks, c->nusers);
    for (size_t i = 0; i < c->nusers && !b.failed; i++)
        render_user(f, &b, &c->users[i], c->blocks);
    if (c->blocks)
        natsconf_blocks_end(c->blocks);
    free(b.text);
    for (size_t i = 0; i < c->nretiring; i++)
        render_denied_user(f, c->retiring[i]);
    fprintf(f, "    ]\n  }\n");
    return b.failed ? -1 : 0;
}

/* What membershipd never asks of JetStream: removing the log or its
 * entries, moving its leaders or peers.  Denied to its own user, so that
 * a stolen server.seed (the log user derives from it) cannot delete the
 * bus log (the fourth adversarial pass did, then closed every node);
 * remaking the log is the operator's (dev/operations.md). */
#define LOG_USER_DENIED                                                                                       \
    "\"$JS.API.STREAM.DELETE.>\", \"$JS.API.STREAM.MSG.DELETE.>\", \"$JS.API.STREAM.PEER.REMOVE.>\", "        \
    "\"$JS.API.STREAM.LEADER.STEPDOWN.>\", \"$JS.API.META.LEADER.STEPDOWN\", \"$JS.API.SERVER.REMOVE\", "     \
    "\"$JS.API.ACCOUNT.PURGE.>\", \"$JS.API.STREAM.RESTORE.>\", \"$JS.API.CONSUMER.DELETE.>\""

/* The bus log's account: JetStream, and one user, this node's membershipd;
 * no peer is in it, and accounts share nothing (no imports, no exports),
 * so no peer reaches its subjects or its JetStream API
 * (dev/control-log.md). */
static void render_log_account(FILE *f, const natsconf *c)
{
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(c->log_key, nkey);
    fprintf(f, "  " NATSCONF_LOG_ACCOUNT ": {\n    jetstream: enabled\n    users = [\n    { nkey: \"%s\", "
            "permissions: { publish: { deny: [" LOG_USER_DENIED "] } } }\n    ]\n  }\n", nkey);
}

/* The system account with one user, membershipd's monitoring client: it
 * may ask for the connection list, the configuration epoch and the peers'
 * traffic, and read the answers on its inbox, nothing else.  No HTTP
 * monitor: it has no authentication in nats-server 2.9 (dev/data-plane.md).
 * With SYS and BUS there are three accounts counting the global one, which
 * no user is in: two would make nats-server 2.9 add a hidden no_auth_user
 * that lets anonymous clients into the global account
 * (server/server.go:851-872, numAccounts == 2). */
static int render_accounts(FILE *f, const natsconf *c)
{
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(c->system_key, nkey);
    fprintf(f, "accounts {\n  " NATSCONF_SYSTEM_ACCOUNT ": {\n    users = [\n      { nkey: \"%s\", permissions: {\n", nkey);
    fprintf(f, "        publish: { allow: [" SYSTEM_USER_REQUESTS "] }\n");
    fprintf(f, "        subscribe: { allow: [\"" INBOX_SUBJECT "\"] }\n      } }\n    ]\n  }\n", nkey);
    int rc = render_peers_account(f, c);
    if (c->jetstream_dir)
        render_log_account(f, c);
    fprintf(f, "}\nsystem_account: " NATSCONF_SYSTEM_ACCOUNT "\nauthorization {\n  timeout: 2\n}\n");
    return rc;
}

char *natsconf_render(const natsconf *c, size_t size_hint)
{
    if (!valid(c))
        return NULL;
    wiped_text *w;
    FILE *f = wiped_text_open(&w, size_hint + size_hint / 16); /* room for a change to grow it */
    if (!f)
        return NULL;
    fprintf(f, "# Generated by membershipd from its database; edits are overwritten.\nlisten: \"");
    natsconf_render_host_port(f, c->host, c->port);
    fprintf(f, "\"\n");
    fprintf(f, "max_payload: %zu\nmax_connections: %u\nmax_control_line: 4096\n", c->max_payload,
            c->max_connections);
    fprintf(f, "max_pending: 67108864\nwrite_deadline: \"5s\"\nping_interval: \"20s\"\nping_max: 3\n");
    /* Without authorization nothing may log in to a system account: any
     * user in the file would turn authentication on for everyone. */
    if (!c->authorization)
        fprintf(f, "no_sys_acc: true\n");
    if (c->jetstream_dir)
        fprintf(f, "jetstream {\n  store_dir: \"%s\"\n  max_mem: " NATSCONF_JETSTREAM_MAX_MEM
                   "\n  max_file: " NATSCONF_JETSTREAM_MAX_FILE "\n}\n", c->jetstream_dir);
    if (c->tls_cert)
        /* nats-server 2.9 has no min_version: it offers TLS 1.2 and up
         * only (checked by tests/integration/test_dataplane_tls.c). */
        fprintf(f, "tls {\n  cert_file: \"%s\"\n  key_file: \"%s\"\n  timeout: 2\n}\n",
                c->tls_cert, c->tls_key);
    /* Before the users, which may run to megabytes: doctor reads the
     * listeners (the cluster's too) from the file's head. */
    if (c->cluster)
        natsconf_render_cluster(f, c->host, c->cluster);
    int rc = c->authorization ? render_accounts(f, c) : 0;
    char *text = wiped_text_close(f, w);
    if (text && rc != 0) {
        explicit_bzero(text, strlen(text));
        free(text);
        text = NULL;
    }
    return text;
}

void natsconf_host_url(const char *scheme, const char *host, unsigned port, char *out, size_t len)
{
    bool v6 = strchr(host, ':') != NULL;
    snprintf(out, len, "%s://%s%s%s:%u", scheme, v6 ? "[" : "", host, v6 ? "]" : "", port);
}

void natsconf_url(bool tls, const char *host, unsigned port, char *out, size_t len)
{
    natsconf_host_url(tls ? "tls" : "nats", host, port, out, len);
}

/* "host:port" or "[v6]:port" in quotes after key, at the start of a line. */
static int parse_address(const char *text, const char *key, char *host, size_t hostlen, unsigned *port)
{
    size_t keylen = strlen(key);
    const char *p = text;
    while (p && strncmp(p, key, keylen) != 0) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    if (!p)
        return -1;
    p += keylen;
    const char *end = strchr(p, '"');
    const char *colon = end ? memrchr(p, ':', (size_t)(end - p)) : NULL;
    if (!colon || colon == p)
        return -1;
    const char *h = p;
    size_t hlen = (size_t)(colon - p);
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']')
        h++, hlen -= 2;
    char *num_end;
    unsigned long v = strtoul(colon + 1, &num_end, 10);
    if (num_end != end || v == 0 || v > 65535 || hlen >= hostlen)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (unsigned)v;
    return 0;
}

int natsconf_parse_listeners(const char *text, natsconf_listeners *out)
{
    memset(out, 0, sizeof *out);
    if (parse_address(text, "listen: \"", out->host, sizeof out->host, &out->port) != 0 || !host_ok(out->host))
        return -1;
    out->tls = strstr(text, "\ntls {\n") != NULL;
    out->authorization = strstr(text, "\nauthorization {\n") != NULL;
    out->system_account = strstr(text, "\nsystem_account: " NATSCONF_SYSTEM_ACCOUNT "\n") != NULL;
    out->log = strstr(text, "\n  " NATSCONF_LOG_ACCOUNT ": {\n    jetstream: enabled\n") != NULL;
    out->cluster = strstr(text, "\ncluster {\n") != NULL;
    for (const char *p = text; (p = strstr(p, "\n    \"nats-route://")); p++)
        out->routes++;
    const char *payload = strstr(text, "\nmax_payload: ");
    out->max_payload = payload ? strtoul(payload + strlen("\nmax_payload: "), NULL, 10) : 0;
    const char *cert = strstr(text, "\ntls {\n  cert_file: \"");
    if (cert) {
        cert += strlen("\ntls {\n  cert_file: \"");
        size_t n = strcspn(cert, "\"\n");
        if (n < sizeof out->tls_cert)
            snprintf(out->tls_cert, sizeof out->tls_cert, "%.*s", (int)n, cert);
    }
    return 0;
}

/* Writes len bytes of text to path atomically (temporary file, rename). */
static int write_atomically(const char *path, const char *text, size_t len)
{
    char temp[4096];
    if (snprintf(temp, sizeof temp, "%s.tmp-XXXXXX", path) >= (int)sizeof temp)
        return -1;
    int fd = mkostemp(temp, O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t off = 0;
    int rc = fchmod(fd, 0600);
    while (rc == 0 && off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = -1;
        else
            off += (size_t)n;
    }
    /* No fsync: the file is derived from the database and written again
     * before nats-server starts, so it needs no durability; the rename
     * alone makes each version appear whole. */
    if (close(fd) != 0)
        rc = -1;
    if (rc == 0)
        rc = rename(temp, path);
    if (rc != 0)
        unlink(temp);
    return rc;
}

/* The peers' users list, from "users = [" to its "]" line, or NULL. */
static const char *users_block(const char *text, const char **end)
{
    static const char head[] = "\n  " NATSCONF_PEERS_ACCOUNT ": {\n";
    const char *start = strstr(text, head);
    if (!start || strncmp(start + strlen(head), "    users = [\n", 14) != 0)
        return NULL;
    start += strlen(head);
    const char *close = strstr(start, "\n    ]\n");
    *end = close ? close + strlen("\n    ]\n") : NULL;
    return close ? start : NULL;
}

int natsconf_users_path(const char *path, char *out, size_t len)
{
    return snprintf(out, len, "%s" NATSCONF_USERS_SUFFIX, path) < (int)len ? 0 : -1;
}

/* The users list as nats-server should parse it: the first character of
 * every quoted string as a \xHH escape.  Its parser returns each plain
 * string as a substring of the whole file (conf/lex.go:171), an escaped
 * one as a string of its own (conf/lex.go:169).  A connection closed by
 * the reload that revoked its user stays in the account's client list for
 * good (reload.go:1601 copies the list before the close, which at
 * client.go:4913 removes it from the replaced account only), and with it
 * its user's entry: plain, that pinned the whole users file once per
 * revocation; escaped, it pins that entry alone. */
static char *escape_strings(const char *users, size_t len, size_t *out_len)
{
    const char *end = users + len;
    size_t quotes = 0;
    for (const char *q = users; (q = memchr(q, '"', (size_t)(end - q))); q++)
        quotes++;
    char *out = malloc(len + 3 * quotes + 1), *o = out; /* an escape is 3 bytes longer than its character */
    if (!out)
        return NULL;
    bool inside = false;
    /* A segment at a time up to each quote, each escape without printf: a
     * byte at a time through stdio took 60 ms at 10,000 users, a sprintf
     * per string 2 ms, on the path every change waits for. */
    for (const char *p = users, *q; p < end; p = q + 1) {
        q = memchr(p, '"', (size_t)(end - p));
        size_t n = q ? (size_t)(q - p) + 1 : (size_t)(end - p);
        memcpy(o, p, n);
        o += n;
        if (!q)
            break;
        inside = !inside;
        if (inside && q + 1 < end && q[1] != '"') {
            static const char hex[] = "0123456789abcdef";
            unsigned char c = (unsigned char)q[1];
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
            q++;
        }
    }
    *o = '\0';
    *out_len = (size_t)(o - out);
    return out;
}

/* Writes the users list (escaped) to users_path. */
static int write_users(const char *users_path, const char *users, size_t len)
{
    size_t escaped_len = 0;
    char *escaped = escape_strings(users, len, &escaped_len);
    int rc = escaped ? write_atomically(users_path, escaped, escaped_len) : -1;
    free(escaped);
    return rc;
}

/* The peers' users go to a file of their own, included by path: every
 * plain string nats-server parses from a file points into that file's
 * whole text, and it keeps an account's name (parsed from the file
 * holding the accounts) long after a reload replaced the account: each
 * closed connection's record keeps it (server.go:2694, 10,000 records),
 * and so does something behind the JetStream API requests of the log's
 * account, for good (measured: dev/bench.md, case 4).  With the users
 * beside it, that pinned the whole 4 MB file of a 10,000-user bus once per
 * reload; apart, a name pins this file's few KB. */
int natsconf_write(const char *path, const char *text)
{
    const char *end = NULL, *users = users_block(text, &end);
    if (!users)
        return write_atomically(path, text, strlen(text));
    char users_path[4096];
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (natsconf_users_path(path, users_path, sizeof users_path) != 0 || !natsconf_path_ok(base) ||
        write_users(users_path, users, (size_t)(end - users)) != 0)
        return -1;
    wiped_text *w;
    FILE *f = wiped_text_open(&w, (size_t)(users - text) + strlen(end) + 64);
    if (!f)
        return -1;
    fprintf(f, "%.*s    include \"%s" NATSCONF_USERS_SUFFIX "\"\n%s", (int)(users - text), text, base, end);
    char *main_text = wiped_text_close(f, w); /* it may hold the route password: no copy left behind */
    size_t main_len = main_text ? strlen(main_text) : 0;
    int rc = main_text ? write_atomically(path, main_text, main_len) : -1;
    if (main_text)
        explicit_bzero(main_text, main_len);
    free(main_text);
    return rc;
}
