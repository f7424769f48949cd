/*
 * nkey decoding: public keys, seeds, "is it any nkey", and a public key as
 * a person types it (nkey or hex).  What decodes must encode back to the
 * same text.  Input: the text.
 */
#include <string.h>
#include "busauth/nkey.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    size_t len;
    fuzz_split(data, size, '\0', &text, 1, &len);
    uint8_t key[BUSAUTH_KEY_BYTES];
    char again[BUSAUTH_NKEY_SEED_LEN + 1];
    if (busauth_nkey_decode_public(text, key) == BUSAUTH_OK) {
        busauth_nkey_encode_public(key, again);
        FUZZ_CHECK(strcmp(again, text) == 0 && busauth_nkey_is_wellformed(text));
    }
    if (busauth_nkey_decode_seed(text, key) == BUSAUTH_OK) {
        busauth_nkey_encode_seed(key, again);
        FUZZ_CHECK(strcmp(again, text) == 0 && busauth_nkey_is_wellformed(text));
    }
    if (busauth_pubkey_parse(text, key) == BUSAUTH_OK) {
        busauth_nkey_encode_public(key, again);
        char hex[BUSAUTH_PUBKEY_HEX_LEN + 1];
        busauth_pubkey_to_hex(key, hex);
        FUZZ_CHECK(strcmp(again, text) == 0 || strcasecmp(hex, text) == 0);
    }
    fuzz_fields_free(&text, 1);
    return 0;
}
