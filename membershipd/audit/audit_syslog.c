#include "membershipd/audit/audit_syslog.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "embedded/clock.h"
#include "membershipd/audit/audit_format.h"
#include "common/cli_args.h"
#include "common/log.h"
#include "membershipd/audit/syslog_socket.h"

struct audit_syslog {
    store *store;
    syslog_socket *sock;
    int64_t sent_id;        /* the last entry syslog took */
    bool failing;           /* reported once per streak of failures */
    bool stopping;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

static int send_entry(const store_audit_entry *e, void *ctx)
{
    audit_syslog *m = ctx;
    char line[AUDIT_LINE_MAX + 8] = "audit ";
    audit_format_line(e, line + strlen(line), sizeof line - strlen(line));
    int severity = strcmp(e->outcome, "ok") == 0 ? SYSLOG_SEVERITY_NOTICE : SYSLOG_SEVERITY_WARNING;
    if (syslog_socket_send(m->sock, SYSLOG_FACILITY_AUTHPRIV | severity, "membershipd", line) != 0) {
        if (!m->failing)
            log_event(LOG_WARN, "audit_syslog_failed", "id=%lld error=\"%s\" retry_ms=%d", (long long)e->id,
                      strerror(errno), AUDIT_SYSLOG_POLL_MS);
        m->failing = true;
        return -1;
    }
    if (m->failing)
        log_event(LOG_INFO, "audit_syslog_recovered", "id=%lld", (long long)e->id);
    m->failing = false;
    m->sent_id = e->id;
    return 0;
}

static void send_new(audit_syslog *m)
{
    store_audit_filter after = {.after_id = m->sent_id};
    store_audit_foreach(m->store, &after, send_entry, m);
}

/* Wakes every poll; reads only when another connection committed, or to
 * retry an entry syslog did not take. */
static void *follow(void *arg)
{
    audit_syslog *m = arg;
    int64_t seen = store_data_version(m->store);
    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        struct timespec until = clock_deadline_in(AUDIT_SYSLOG_POLL_MS);
        pthread_cond_timedwait(&m->wake, &m->lock, &until);
        pthread_mutex_unlock(&m->lock);
        int64_t version = store_data_version(m->store);
        if (version != seen || m->failing)
            send_new(m);
        seen = version;
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    send_new(m);
    return NULL;
}

static void free_mirror(audit_syslog *m)
{
    store_close(m->store);
    syslog_socket_close(m->sock);
    free(m);
}

audit_syslog *audit_syslog_start(const char *socket_path, const char *db_path)
{
    audit_syslog *m = calloc(1, sizeof *m);
    char why[2 * 4096];
    if (!m) {
        cli_error("out of memory");
        return NULL;
    }
    m->sock = syslog_socket_open(socket_path, why, sizeof why);
    if (!m->sock || store_open(db_path, STORE_OPEN_READONLY, &m->store, why, sizeof why) != STORE_OK ||
        store_audit_last_id(m->store, &m->sent_id) != STORE_OK) {
        cli_error("--audit-syslog: %s", m->sock && m->store ? store_errmsg(m->store) : why);
        free_mirror(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&m->thread, NULL, follow, m) != 0) {
        cli_error("--audit-syslog: cannot start its thread");
        pthread_cond_destroy(&m->wake);
        pthread_mutex_destroy(&m->lock);
        free_mirror(m);
        return NULL;
    }
    log_event(LOG_INFO, "audit_syslog", "socket=%s facility=authpriv from_id=%lld", socket_path,
              (long long)m->sent_id + 1);
    return m;
}

void audit_syslog_stop(audit_syslog *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free_mirror(m);
}
