#include "membershipd/audit/audit_format.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void audit_format_time(int64_t unix_ms, char out[32])
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(unix_ms % 1000));
}

static bool needs_quotes(const char *v)
{
    return v[0] == '\0' || strpbrk(v, " \t\"\\=") != NULL;
}

/* Appends key=value at *n, never past len - 1. */
static void put_pair(char *out, size_t len, size_t *n, const char *key, const char *value)
{
    const char *v = value ? value : "-";
    bool quote = value && needs_quotes(v);
    int w = snprintf(out + *n, len - *n, "%s%s=%s", *n ? " " : "", key, quote ? "\"" : "");
    *n = w > 0 && (size_t)w < len - *n ? *n + (size_t)w : len - 1;
    for (const unsigned char *p = (const unsigned char *)v; *p && *n < len - 1; p++) {
        if (*p < 0x20 || *p == 0x7f)
            w = snprintf(out + *n, len - *n, "\\x%02x", *p);
        else if (*p == '"' || *p == '\\')
            w = snprintf(out + *n, len - *n, "\\%c", *p);
        else
            w = snprintf(out + *n, len - *n, "%c", *p);
        *n = w > 0 && (size_t)w < len - *n ? *n + (size_t)w : len - 1;
    }
    if (quote && *n < len - 1)
        out[(*n)++] = '"';
    out[*n] = '\0';
}

void audit_format_line(const store_audit_entry *e, char *out, size_t len)
{
    char id[24], at[32];
    snprintf(id, sizeof id, "%lld", (long long)e->id);
    audit_format_time(e->at_ms, at);
    size_t n = 0;
    out[0] = '\0';
    put_pair(out, len, &n, "id", id);
    put_pair(out, len, &n, "at", at);
    put_pair(out, len, &n, "actor", e->actor);
    put_pair(out, len, &n, "action", e->action);
    put_pair(out, len, &n, "target", e->target);
    put_pair(out, len, &n, "outcome", e->outcome);
    put_pair(out, len, &n, "peer_ip", e->peer_ip);
    put_pair(out, len, &n, "request_id", e->request_id);
}

/* NULL as null; bytes that are not UTF-8 (a hostile URL) as '?'. */
static json_t *text_json(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char copy[AUDIT_LINE_MAX];
    size_t n = 0;
    for (; s[n] && n < sizeof copy - 1; n++)
        copy[n] = (unsigned char)s[n] < 0x80 ? s[n] : '?';
    copy[n] = '\0';
    return json_string(copy);
}

json_t *audit_entry_json(const store_audit_entry *e)
{
    char at[32];
    audit_format_time(e->at_ms, at);
    return json_pack("{s:I, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)e->id, "at", at,
                     "at_ms", (json_int_t)e->at_ms, "actor", text_json(e->actor), "action", text_json(e->action),
                     "target", text_json(e->target), "outcome", text_json(e->outcome),
                     "peer_ip", text_json(e->peer_ip), "request_id", text_json(e->request_id));
}
