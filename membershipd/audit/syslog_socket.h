/*
 * A syslog sender on a Unix datagram socket (/dev/log, where journald and
 * rsyslog listen), in the framing glibc's syslog(3) uses:
 * "<PRI>Mmm dd hh:mm:ss TAG[PID]: MESSAGE".  Not syslog(3) itself, which
 * only knows /dev/log and reports no failure.
 */
#ifndef MEMBERSHIPD_SYSLOG_SOCKET_H
#define MEMBERSHIPD_SYSLOG_SOCKET_H

#include <stddef.h>

/* Facility and severities of RFC 5424, spelled out here because
 * <syslog.h>'s LOG_* names collide with log.h's levels. */
#define SYSLOG_FACILITY_AUTHPRIV (10 << 3)
#define SYSLOG_SEVERITY_WARNING 4
#define SYSLOG_SEVERITY_NOTICE 5

typedef struct syslog_socket syslog_socket;

/* Connects to the socket at path; NULL with one line in why (what failed
 * and the fix) when it cannot. */
syslog_socket *syslog_socket_open(const char *path, char *why, size_t whylen);
/* Sends one message (reconnecting once when the daemon was restarted);
 * 0, or -1 with errno. */
int syslog_socket_send(syslog_socket *s, int priority, const char *tag, const char *message);
void syslog_socket_close(syslog_socket *s); /* NULL is accepted */

#endif
