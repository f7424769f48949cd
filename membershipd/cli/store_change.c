/* The offline CLI's changes through the bus log (store_change.h). */
#include "membershipd/cli/store_change.h"
#include "membershipd/dataplane/dataplane_render.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "busauth/seedfile.h"
#include "common/cli_args.h"
#include "embedded/nats_config.h"
#include "membershipd/config/server_identity.h"
#include "membershipd/config/tls_files.h"
#include "membershipd/ctllog/ctllog.h"
#include "membershipd/store/store_pki.h"

#define JOIN_WAIT_MS (CTLLOG_ELECTION_WAIT_MS + 5000) /* a stream leader lost just before: elected again */
#define NATS_CONF_MAX (16 * 1024 * 1024)

/* One command, one store, one log: the CLI is a process per command. */
static struct {
    ctllog *log;
    busauth_identity *user;
    int64_t joined_at;          /* the log's sequence when the command began */
} joined;

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = f ? calloc(1, NATS_CONF_MAX + 1) : NULL;
    if (text && fread(text, 1, NATS_CONF_MAX, f) == 0) {
        free(text);
        text = NULL;
    }
    if (f)
        fclose(f);
    return text;
}

/* Where this node's nats-server listens, from the nats.conf serve wrote. */
static int find_dataplane(const char *dir, natsconf_listeners *l, char url[128], char expected[256])
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/nats.conf", dir);
    char *text = read_text(path);
    int rc = text && natsconf_parse_listeners(text, l) == 0 && l->log ? 0 : -1;
    dataplane_text_free(text); /* it holds the route password */
    if (rc != 0) {
        cli_error("this store belongs to a bus log, but %s does not say where its nats-server listens: start "
                  "membershipd serve on this data directory, then run the command again; nothing was changed", path);
        return -1;
    }
    tls_dataplane_target(l->tls ? l->tls_cert : NULL, l->host, l->port, url, expected);
    return 0;
}

static int join_log(const store_location *loc, store *s)
{
    const char *dir = cli_data_dir_path(loc);
    char url[128], expected[256], seed[PATH_MAX], db[4096], err[512] = "";
    natsconf_listeners l;
    busauth_identity *server = NULL;
    if (find_dataplane(dir, &l, url, expected) != 0 || cli_db_path(loc, STORE_OPEN_EXISTING, db) != EXIT_OK)
        return EXIT_FAILED;
    server_identity_path(dir, seed);
    if (busauth_seedfile_load(seed, &server) != BUSAUTH_OK || !(joined.user = server_identity_log_user(server))) {
        busauth_identity_free(server);
        cli_error("cannot read the server identity %s, which logs in to the bus log; nothing was changed", seed);
        return EXIT_FAILED;
    }
    busauth_identity_free(server);
    store_ca ca = {0};
    bool have_ca = store_ca_get(s, &ca) == STORE_OK;
    const ctllog_config lc = {
        .url = url, .ca_file = l.tls_cert[0] ? l.tls_cert : NULL, .ca_pem = have_ca ? ca.cert_pem : NULL,
        .expected_host = expected[0] ? expected : NULL, .user = joined.user, .db_path = db, .replicas = 1,
        .nodes = l.routes + 1,
        .part_max = l.max_payload > 8192 ? l.max_payload - 4096 : 512, .node = "cli",
    };
    joined.log = ctllog_start(&lc, err, sizeof err);
    if (have_ca)
        store_ca_free(&ca);
    if (!joined.log || ctllog_wait_ready(joined.log, JOIN_WAIT_MS) != 0) {
        cli_error("cannot reach the bus log through this node's nats-server at %s within %d ms (is membershipd "
                  "serve running here? a cluster needs most of its nodes up); nothing was changed%s%s",
                  url, JOIN_WAIT_MS, err[0] ? ": " : "", err);
        return EXIT_FAILED;
    }
    store_log_writer w = ctllog_writer(joined.log);
    store_log_set_writer(s, &w);
    joined.joined_at = ctllog_applied(joined.log);
    return EXIT_OK;
}

int cli_open_store_for_change(const store_location *loc, store_open_mode mode, store **out)
{
    *out = NULL; /* cli_open_store leaves it as it was when it fails */
    int rc = cli_open_store(loc, mode, out);
    bool attached = false;
    if (rc == EXIT_OK && store_log_attached(*out, &attached) != STORE_OK)
        rc = cli_store_error(*out, STORE_ERROR, "read the store's log position");
    if (rc == EXIT_OK && attached)
        rc = join_log(loc, *out);
    if (rc != EXIT_OK && *out) {
        cli_close_store_for_change(*out);
        *out = NULL;
    }
    return rc;
}

/* Like the API: a change is done when every node heard from lately runs
 * it (dev/control-log.md, "In force everywhere"). */
static void wait_in_force(void)
{
    char lagging[256];
    int64_t seq = ctllog_applied(joined.log);
    if (seq > joined.joined_at && ctllog_wait_in_force(joined.log, seq, CTLLOG_IN_FORCE_TIMEOUT_MS, lagging,
                                                       sizeof lagging) > 0)
        cli_error("warning: not yet in force on %s after %d ms: they apply it from the bus log when they can",
                  lagging, CTLLOG_IN_FORCE_TIMEOUT_MS);
}

void cli_close_store_for_change(store *s)
{
    if (joined.log)
        wait_in_force();
    if (s)
        store_log_set_writer(s, NULL);
    ctllog_stop(joined.log);
    busauth_identity_free(joined.user);
    joined.log = NULL;
    joined.user = NULL;
    store_close(s);
}
