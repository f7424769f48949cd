/*
 * Structured logs: one line per event on stderr, key=value pairs, written
 * with a single write(2) so lines from threads never interleave.  Every line
 * passes through busauth_redact before it leaves the process.  Callers never
 * pass secrets; the redaction is the second line of defence.
 */
#ifndef MEMBERSHIPD_LOG_H
#define MEMBERSHIPD_LOG_H

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* msg is a short event name ("request", "listening"); fmt adds key=value
 * pairs.  Values that may hold spaces must be quoted by the caller. */
void log_event(log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
