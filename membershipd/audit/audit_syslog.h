/*
 * --audit-syslog: every audit entry committed while the server runs, by
 * the server or by the command line beside it, mirrored to syslog as one
 * key=value line (dev/audit.md).  A thread with its own read-only SQLite
 * connection follows the log by id, so only committed entries are ever
 * sent, each once, in order; an entry the daemon does not take is retried.
 */
#ifndef MEMBERSHIPD_AUDIT_SYSLOG_H
#define MEMBERSHIPD_AUDIT_SYSLOG_H

#define AUDIT_SYSLOG_DEFAULT_SOCKET "/dev/log"
#define AUDIT_SYSLOG_POLL_MS 250

typedef struct audit_syslog audit_syslog;

/* Mirrors entries appended from now on; NULL after one line to stderr. */
audit_syslog *audit_syslog_start(const char *socket_path, const char *db_path);
/* Sends what was committed before the call, then stops.  NULL is accepted. */
void audit_syslog_stop(audit_syslog *m);

#endif
