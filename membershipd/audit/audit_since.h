#ifndef MEMBERSHIPD_AUDIT_SINCE_H
#define MEMBERSHIPD_AUDIT_SINCE_H

#include <stdint.h>

/* "2026-11-23T10:00:00Z" (UTC, whole seconds) or a duration before now_ms:
 * a whole number and s, m, h or d ("15m", "2h", "7d").  0, or -1 when
 * text is neither. */
int audit_parse_since(const char *text, int64_t now_ms, int64_t *since_ms);

#endif
