/*
 * A join token's text, and a log line holding tokens.  The input, exactly
 * sized, goes to busauth_join_token_split and busauth_join_prove (ASan sees
 * a read past its length): they agree, a proof made verifies for exactly
 * what it was made for, and what they accept is the prefix,
 * a public nkey and the secret's canonical base64url, nothing else but
 * surrounding whitespace.  The input up to its first NUL is then a log
 * line: busauth_redact must leave no token's secret in it.  Input: the
 * text.
 */
#include <ctype.h>
#include <string.h>
#include <sodium.h>
#include "busauth/join_token.h"
#include "fuzz.h"


static void secret_text(const uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES], char out[BUSAUTH_JOIN_SECRET_B64_LEN + 1])
{
    sodium_bin2base64(out, BUSAUTH_JOIN_SECRET_B64_LEN + 1, secret, BUSAUTH_JOIN_SECRET_BYTES,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* The token the text holds, written back from its parts, is the text
 * without its surrounding whitespace. */
static void check_split(const char *text, size_t len)
{
    static const char subject[] = "UAB2CB576PHBBPQ5ODORRZ2LYCMWPZGWGCN2KDK7DXOIMZASKUY3RLKK";
    char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], proved_nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], proof[BUSAUTH_SIG_B64_LEN + 1];
    uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES], token_key[BUSAUTH_KEY_BYTES];
    bool split = busauth_join_token_split(text, len, nkey, secret);
    FUZZ_CHECK(split == busauth_join_prove(text, len, "member", "", subject, proved_nkey, token_key, proof));
    if (!split)
        return;
    uint8_t key[BUSAUTH_KEY_BYTES];
    FUZZ_CHECK(strcmp(nkey, proved_nkey) == 0 && busauth_nkey_decode_public(nkey, key) == BUSAUTH_OK);
    FUZZ_CHECK(busauth_join_proof_verify(token_key, nkey, "member", "", subject, proof));
    FUZZ_CHECK(!busauth_join_proof_verify(token_key, nkey, "node", "", subject, proof));
    char b64[BUSAUTH_JOIN_SECRET_B64_LEN + 1], again[BUSAUTH_JOIN_TOKEN_LEN + 1];
    secret_text(secret, b64);
    snprintf(again, sizeof again, BUSAUTH_JOIN_TOKEN_PREFIX "%s.%s", nkey, b64);
    while (len && isspace((unsigned char)*text))
        text++, len--;
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    FUZZ_CHECK(len == BUSAUTH_JOIN_TOKEN_LEN && memcmp(text, again, len) == 0);
}

static size_t occurrences(const char *line, const char *needle)
{
    size_t n = 0;
    for (const char *p = line; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* Every token in the line (as the split reads one) loses its secret.  A
 * secret whose text the line holds elsewhere too is not checked: outside
 * a token it is not recognisable, and redaction only ever removes. */
static void check_redaction(const char *line)
{
    size_t len = strlen(line), prefix = sizeof BUSAUTH_JOIN_TOKEN_PREFIX - 1;
    char *redacted = strdup(line);
    FUZZ_CHECK(redacted != NULL);
    size_t count = busauth_redact(redacted);
    FUZZ_CHECK(strlen(redacted) <= len && (count > 0) == (strcmp(redacted, line) != 0));
    for (const char *p = line; (p = strstr(p, BUSAUTH_JOIN_TOKEN_PREFIX)) != NULL; p += prefix) {
        char nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], b64[BUSAUTH_JOIN_SECRET_B64_LEN + 1];
        uint8_t secret[BUSAUTH_JOIN_SECRET_BYTES];
        if ((size_t)(line + len - p) < BUSAUTH_JOIN_TOKEN_LEN ||
            !busauth_join_token_split(p, BUSAUTH_JOIN_TOKEN_LEN, nkey, secret))
            continue;
        secret_text(secret, b64);
        if (occurrences(line, b64) == 1)
            FUZZ_CHECK(strstr(redacted, b64) == NULL);
    }
    free(redacted);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exactly sized: ASan sees any read past size */
    memcpy(text, data, size);
    check_split(text, size);
    free(text);
    char *line;
    size_t last_len;
    fuzz_split(data, size, '\0', &line, 1, &last_len);
    check_redaction(line);
    fuzz_fields_free(&line, 1);
    return 0;
}
