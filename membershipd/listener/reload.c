#include "membershipd/listener/reload.h"

#include <string.h>
#include <sodium.h>
#include "membershipd/config/cluster_config.h"
#include "membershipd/dataplane/dataplane.h"
#include "membershipd/config/guard.h"
#include "membershipd/listener/http_server.h"
#include "common/log.h"
#include "membershipd/metrics/metrics.h"
#include "membershipd/metrics/metrics_server.h"
#include "membershipd/config/tls_files.h"

static bool rotate_tls(server *srv)
{
    char why[GUARD_REASON_MAX];
    if (tls_files_check(srv->cfg.tls_cert, srv->cfg.tls_key, why, sizeof why) != 0) {
        log_event(LOG_ERROR, "reload_refused", "reason=\"%s\" kept=\"the certificate in use\"", why);
        return false;
    }
    char *cert, *key;
    if (!tls_pem_read_pair(srv->cfg.tls_cert, srv->cfg.tls_key, &cert, &key)) {
        log_event(LOG_ERROR, "reload_refused", "reason=\"cannot read %s or %s\" kept=\"the certificate in use\"",
                  srv->cfg.tls_cert, srv->cfg.tls_key);
        return false;
    }
    pki_lifetime life;
    tls_pem_lifetime(cert, &life);
    pthread_mutex_lock(&srv->store_lock);
    tls_warn_if_revoked(srv->store, srv->cfg.tls_cert, cert);
    pthread_mutex_unlock(&srv->store_lock);
    if (http_server_rotate(srv, cert, key) != 0) {
        log_event(LOG_ERROR, "reload_refused",
                  "reason=\"the HTTPS server would not start with the new certificate (see above)\" "
                  "kept=\"the certificate in use\"");
        return false;
    }
    metrics_set_cert_lifetime(life.not_after, life.renew_at);
    srv->cert_not_after = life.not_after;
    srv->cert_renew_at = life.renew_at;
    srv->cert_renew_logged = false;
    /* The same pair for the metrics listener (the control plane's daemon
     * owns it now), not a second reading of files that may be changing. */
    if (metrics_server_rotate(srv->metrics, cert, key) != 0)
        log_event(LOG_ERROR, "reload_metrics", "detail=\"the metrics listener keeps the old certificate\"");
    return true;
}

/* A cluster node reads its route secret file again: rotating the secret
 * is writing it on every node, then a SIGHUP each (dev/operations.md). */
static bool rotate_route_secret(server *srv)
{
    char password[NATSCONF_ROUTE_PASSWORD_LEN + 1], why[GUARD_REASON_MAX];
    if (cluster_route_password(srv->cfg.cluster.secret_file, password, why, sizeof why) != 0) {
        log_event(LOG_ERROR, "reload_refused", "reason=\"%s\" kept=\"the route secret in use\"", why);
        return false;
    }
    bool changed = sodium_memcmp(password, srv->cluster.password, sizeof password) != 0;
    if (changed) {
        dataplane_set_route_password(srv->dataplane, password);
        memcpy(srv->cluster.password, password, sizeof password);
    }
    sodium_memzero(password, sizeof password);
    return true;
}

void serve_reload(server *srv)
{
    bool tls = serve_config_tls(&srv->cfg), cluster = cluster_configured(&srv->cfg.cluster);
    if (tls && !rotate_tls(srv))
        return;
    if (cluster && !rotate_route_secret(srv))
        return;
    int applied = dataplane_refresh(srv->dataplane);
    log_event(applied == 0 ? LOG_INFO : LOG_ERROR, "reloaded", "tls=%s dataplane=%s route_secret=%s",
              tls ? "rotated" : "off", applied == 0 ? "reloaded" : "pending", cluster ? "read" : "none");
}
