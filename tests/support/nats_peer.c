#include "nats_peer.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include "embedded/nats_auth.h"

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)sub;
    nats_peer *p = closure;
    pthread_mutex_lock(&p->lock);
    const char *text = NULL;
    if (nc)
        natsConnection_GetLastError(nc, &text);
    snprintf(p->last_error, sizeof p->last_error, "%s", text ? text : natsStatus_GetText(err));
    if (err == NATS_NOT_PERMITTED || strstr(p->last_error, "Permissions Violation"))
        p->permission_errors++;
    pthread_mutex_unlock(&p->lock);
}

static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    nats_peer *p = closure;
    pthread_mutex_lock(&p->lock);
    p->closed = true;
    pthread_mutex_unlock(&p->lock);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    nats_peer *p = closure;
    pthread_mutex_lock(&p->lock);
    p->reconnects++;
    pthread_mutex_unlock(&p->lock);
}

natsStatus nats_peer_connect(nats_peer *p, const char *url, const busauth_identity *id, const char *ca_file,
                             bool reconnect)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    natsStatus s = natsOptions_Create(&p->opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(p->opts, url);
    if (s == NATS_OK && id)
        s = nats_auth_use_identity(p->opts, id);
    if (s == NATS_OK && ca_file)
        s = natsOptions_LoadCATrustedCertificates(p->opts, ca_file);
    if (s == NATS_OK && ca_file)
        s = natsOptions_SetSecure(p->opts, true);
    if (s == NATS_OK)
        s = natsOptions_SetAllowReconnect(p->opts, reconnect);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(p->opts, 100);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(p->opts, 100);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(p->opts, 3000);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(p->opts, on_error, p);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(p->opts, on_closed, p);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(p->opts, on_reconnected, p);
    if (s == NATS_OK)
        s = nats_auth_connect(&p->nc, p->opts); /* as libunibus connects */
    return s;
}

static void nats_peer_wait_closed_cb(nats_peer *p, int timeout_ms);

void nats_peer_close(nats_peer *p)
{
    /* The closed callback runs on a nats.c thread: wait for it before the
     * peer (often on the caller's stack) goes away. */
    if (p->nc) {
        natsConnection_Close(p->nc);
        nats_peer_wait_closed_cb(p, 5000);
    }
    natsConnection_Destroy(p->nc);
    natsOptions_Destroy(p->opts);
    p->nc = NULL;
    p->opts = NULL;
    pthread_mutex_destroy(&p->lock);
}

static void nats_peer_wait_closed_cb(nats_peer *p, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 5) {
        pthread_mutex_lock(&p->lock);
        bool closed = p->closed;
        pthread_mutex_unlock(&p->lock);
        if (closed)
            return;
        struct timespec pause = {0, 5 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

int nats_peer_permission_errors(nats_peer *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->permission_errors;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int nats_peer_wait_permission_errors(nats_peer *p, int n, int timeout_ms)
{
    int seen = nats_peer_permission_errors(p);
    for (int waited = 0; seen < n && waited < timeout_ms; waited += 10) {
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
        seen = nats_peer_permission_errors(p);
    }
    return seen;
}

bool nats_peer_wait_closed(nats_peer *p, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pthread_mutex_lock(&p->lock);
        bool closed = p->closed;
        pthread_mutex_unlock(&p->lock);
        if (closed || natsConnection_IsClosed(p->nc))
            return true;
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    return false;
}

natsSubscription *nats_peer_subscribe(nats_peer *p, const char *subject)
{
    natsSubscription *sub = NULL;
    if (natsConnection_SubscribeSync(&sub, p->nc, subject) != NATS_OK)
        return NULL;
    natsConnection_FlushTimeout(p->nc, 2000);
    return sub;
}

bool nats_peer_receives(natsSubscription *sub, const char *payload, int timeout_ms)
{
    natsMsg *msg = NULL;
    if (natsSubscription_NextMsg(&msg, sub, timeout_ms) != NATS_OK)
        return false;
    bool same = natsMsg_GetDataLength(msg) == (int)strlen(payload) &&
                memcmp(natsMsg_GetData(msg), payload, strlen(payload)) == 0;
    natsMsg_Destroy(msg);
    return same;
}

bool nats_peer_echoes(nats_peer *p, natsSubscription *sub, const char *subject, const char *payload,
                      int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 200) {
        natsConnection_PublishString(p->nc, subject, payload);
        natsConnection_FlushTimeout(p->nc, 500);
        if (nats_peer_receives(sub, payload, 200))
            return true;
    }
    return false;
}
