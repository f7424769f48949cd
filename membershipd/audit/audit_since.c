/* --since for membershipd audit: an RFC 3339 UTC time or a duration back. */
#include "membershipd/audit/audit_since.h"

#include "common/cli_args.h"

#include <string.h>
#include <time.h>

static int parse_duration(const char *text, int64_t now_ms, int64_t *out)
{
    int64_t back;
    if (!cli_duration_ms(text, &back) || back > now_ms)
        return -1;
    *out = now_ms - back;
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
