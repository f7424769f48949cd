/* Flag values every subcommand parses the same way: numbers and durations. */
#include "common/cli_args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int cli_bad_value(const char *flag, const char *value, const char *expected)
{
    cli_error("%s %.64s: expected %s", flag, value, expected);
    return EXIT_USAGE;
}

int cli_parse_u64(const char *flag, const char *text, uint64_t min, uint64_t max, uint64_t fallback, uint64_t *out)
{
    if (!text) {
        *out = fallback;
        return EXIT_OK;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || v < min || v > max) {
        char expected[80];
        snprintf(expected, sizeof expected, "a whole number from %llu to %llu", (unsigned long long)min,
                 (unsigned long long)max);
        return cli_bad_value(flag, text, expected);
    }
    *out = v;
    return EXIT_OK;
}

bool cli_duration_ms(const char *text, int64_t *ms)
{
    char *end;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno || end == text || text[0] == '-' || text[0] == '+' || !end[0] || end[1])
        return false;
    int64_t unit_ms = *end == 's' ? 1000 : *end == 'm' ? 60000 : *end == 'h' ? 3600000 : *end == 'd' ? 86400000 : 0;
    if (unit_ms == 0 || n > INT64_MAX / 4 / unit_ms)
        return false;
    *ms = (int64_t)n * unit_ms;
    return true;
}
