/* --since for membershipd audit: an RFC 3339 UTC time or a duration back. */
#include "membershipd/audit/audit_since.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse_duration(const char *text, int64_t now_ms, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno || end == text || text[0] == '-' || text[0] == '+' || !end[0] || end[1])
        return -1;
    int64_t unit_ms = *end == 's' ? 1000 : *end == 'm' ? 60000 : *end == 'h' ? 3600000
                    : *end == 'd' ? 86400000 : 0;
    if (unit_ms == 0 || n > now_ms / unit_ms)
        return -1;
    *out = now_ms - (int64_t)n * unit_ms;
    return 0;
}

static int parse_utc(const char *text, int64_t *out)
{
    struct tm tm = {0};
    const char *end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || strlen(text) != 20 || strcmp(end, "Z") != 0)
        return -1;
    time_t t = timegm(&tm);
    if (t < 0)
        return -1;
    *out = (int64_t)t * 1000;
    return 0;
}

int audit_parse_since(const char *text, int64_t now_ms, int64_t *since_ms)
{
    return parse_duration(text, now_ms, since_ms) == 0 || parse_utc(text, since_ms) == 0 ? 0 : -1;
}
