/*
 * An audit entry as text, the same for `membershipd audit` and the syslog
 * mirror: key=value pairs on one line (dev/audit.md), and as JSON.
 */
#ifndef MEMBERSHIPD_AUDIT_FORMAT_H
#define MEMBERSHIPD_AUDIT_FORMAT_H

#include <stddef.h>
#include <jansson.h>
#include "membershipd/store/store.h"

#define AUDIT_LINE_MAX 8192
#define AUDIT_JSON_VERSION 1

/* "2026-11-23T10:00:00.123Z" */
void audit_format_time(int64_t unix_ms, char out[32]);
/* id=7 at=2026-11-23T10:00:00.123Z actor=U... action=room.create
 * target=room:... outcome=ok peer_ip=127.0.0.1 request_id=...
 * A value that is empty or holds a blank, '"', '\\' or '=' is quoted;
 * '"' and '\\' are escaped, control bytes written as \xNN; NULL is "-". */
void audit_format_line(const store_audit_entry *e, char *out, size_t len);
/* One entry as a JSON object (NULL fields as null); NULL when out of memory. */
json_t *audit_entry_json(const store_audit_entry *e);

#endif
