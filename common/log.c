#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "busauth/secret.h"

#define LOG_LINE_MAX 2048

static const char *const LEVELS[] = {"debug", "info", "warn", "error"};

static size_t put_timestamp(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "ts=%Y-%m-%dT%H:%M:%S", &tm);
    int m = snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return n + (m > 0 ? (size_t)m : 0);
}

static void write_line(const char *line, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, line, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        line += w;
        len -= (size_t)w;
    }
}

void log_event(log_level level, const char *msg, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    size_t n = put_timestamp(line, sizeof line);
    n += (size_t)snprintf(line + n, sizeof line - n, " level=%s msg=%s", LEVELS[level], msg);
    if (fmt && fmt[0] && n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
        va_end(ap);
        n = m < 0 ? n : n + (size_t)m;
    }
    if (n > sizeof line - 2)
        n = sizeof line - 2; /* truncated: keep it one line */
    line[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    n = busauth_redact(line) ? strlen(line) : n;
    line[n++] = '\n';
    write_line(line, n);
}
