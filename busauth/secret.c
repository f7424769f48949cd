#include "busauth/secret.h"

#include <string.h>
#include <sodium.h>
#include "busauth/nkey.h"

#define REDACTED "[REDACTED]"
#define SECRET_HEX_LEN 128 /* libsodium Ed25519 secret key: 64 bytes */

bool busauth_secret_equal(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}

static bool is_base32(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7');
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* How many characters from s belong to the class; counts past min only
 * when the run reaches min, so a scan of every position stays linear. */
static size_t run_length(const char *s, bool (*member)(char), size_t min)
{
    size_t n = 0;
    while (s[n] && member(s[n]) && n < min)
        n++;
    if (n < min)
        return 0;
    while (s[n] && member(s[n]))
        n++;
    return n;
}

static bool is_token_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '_' ||
           c == '-';
}

/* A join token: its prefix and whatever follows it that could be part of
 * it, when that is long enough to be a secret at all. */
static size_t join_token_at(const char *s)
{
    size_t prefix = sizeof BUSAUTH_JOIN_TOKEN_PREFIX - 1;
    if (strncmp(s, BUSAUTH_JOIN_TOKEN_PREFIX, prefix) != 0)
        return 0;
    size_t n = prefix;
    while (is_token_char(s[n]))
        n++;
    return n >= prefix + 16 ? n : 0;
}

static bool is_userinfo_char(char c)
{
    return c && c != ':' && c != '@' && c != '/' && c != ' ' && c != '"' && c != '\n';
}

/* "://user:password@" (a route URL, as nats-server logs one when a reload
 * removes it): all but the "@", when at least as long as what replaces it
 * (the route password alone is 64 characters: dev/cluster.md). */
static size_t url_userinfo_at(const char *s)
{
    if (strncmp(s, "://", 3) != 0)
        return 0;
    size_t n = 3;
    while (is_userinfo_char(s[n]))
        n++;
    if (s[n] != ':')
        return 0;
    size_t pass = ++n;
    while (is_userinfo_char(s[n]))
        n++;
    return s[n] == '@' && n > pass && n >= sizeof REDACTED ? n : 0;
}

/* Length of a secret-looking token starting at s, or 0.  Each kind is
 * tried only where its first character stands: every request's log line
 * passes through here, one position at a time. */
static size_t secret_at(const char *s)
{
    size_t n = s[0] == 'S' ? run_length(s, is_base32, BUSAUTH_NKEY_SEED_LEN) : 0;
    if (!n && s[0] == BUSAUTH_JOIN_TOKEN_PREFIX[0])
        n = join_token_at(s);
    if (!n && s[0] == ':')
        n = url_userinfo_at(s);
    return n ? n : run_length(s, is_hex, SECRET_HEX_LEN);
}

size_t busauth_redact(char *line)
{
    size_t count = 0;
    char *out = line;
    const char *in = line;
    while (*in) {
        size_t n = secret_at(in);
        if (n > 0) {
            /* n > strlen(REDACTED): the write never overtakes the read. */
            memcpy(out, REDACTED, sizeof REDACTED - 1);
            out += sizeof REDACTED - 1;
            in += n;
            count++;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return count;
}
