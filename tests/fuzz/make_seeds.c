/*
 * Writes the seeds that need keys into the corpus directories given:
 *   make_seeds ENVELOPE-DIR SIGNED-REQUEST-DIR
 * version-2 envelopes sealed with the fuzzers' room key (signed and not,
 * empty and not, a request, a reply), and the signed request of
 * dev/signed-requests.md's test vector.  The version-1 seeds (signed,
 * unsigned, signed-empty) stay in the corpus: inputs the target refuses.
 * Run once by hand when the formats change (dev/fuzzing.md).
 */
#include <string.h>
#include <sodium.h>
#include "busauth/signing.h"
#include "envelope.h"
#include "fuzz.h"

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        abort();
}

/* From sender as kind, signed by it when sign is set. */
static void envelope_seed(const char *dir, const char *name, const busauth_identity *sender, bool sign,
                          envelope_kind kind, const char *text)
{
    uint8_t key[ENVELOPE_KEY_LEN], out[512];
    fuzz_room_key(key);
    envelope_header h = {.kind = kind, .epoch = 3, .sequence = 7, .time_ms = FUZZ_NOW_MS};
    memcpy(h.sender, busauth_identity_public_key(sender), 32);
    memset(h.session, 0x5a, sizeof h.session);
    if (kind == ENVELOPE_REPLY)
        memset(h.answers, 0xa5, sizeof h.answers);
    size_t len = envelope_sealed_len(strlen(text), sign);
    envelope_seal(FUZZ_ROOM_ID, key, &h, sign ? sender : NULL, (const uint8_t *)text, strlen(text), out);
    write_file(dir, name, out, len);
}

static void request_seed(const char *dir, const busauth_identity *id)
{
    const char *body = "{\"name\":\"ops\",\"sealed_key\":\"AAAA\"}", *nonce = "00112233445566778899aabbccddeeff";
    uint8_t hash[BUSAUTH_SHA256_BYTES];
    crypto_hash_sha256(hash, (const uint8_t *)body, strlen(body));
    char canonical[512], sig[BUSAUTH_SIG_B64_LEN + 1], key[BUSAUTH_NKEY_PUBLIC_LEN + 1], text[1024];
    busauth_nkey_encode_public(busauth_identity_public_key(id), key);
    busauth_request r = {.server_key = FUZZ_SERVER_NKEY, .key = key, .method = "POST", .target = "/v1/rooms",
                         .time_ms = "1700000000000", .nonce = nonce, .body_sha256 = hash};
    size_t n = busauth_request_canonical(canonical, sizeof canonical, &r);
    busauth_sign_text(id, canonical, n, sig);
    int len = snprintf(text, sizeof text, "POST\n/v1/rooms\n%s\n%s\n1700000000000\n%s\n%s\n%s", FUZZ_SERVER_NKEY,
                       key, nonce, sig, body);
    write_file(dir, "vector", text, (size_t)len);
}

int main(int argc, char **argv)
{
    if (argc != 3 || busauth_init() != BUSAUTH_OK) {
        fprintf(stderr, "usage: make_seeds ENVELOPE-DIR SIGNED-REQUEST-DIR\n");
        return 2;
    }
    uint8_t seed[32];
    fuzz_vector_seed(seed);
    busauth_identity *id;
    if (busauth_identity_from_seed(seed, &id) != BUSAUTH_OK)
        return 1;
    envelope_seed(argv[1], "v2-signed", id, true, ENVELOPE_MESSAGE, "hello, room");
    envelope_seed(argv[1], "v2-unsigned", id, false, ENVELOPE_MESSAGE, "hello, room");
    envelope_seed(argv[1], "v2-signed-empty", id, true, ENVELOPE_MESSAGE, "");
    envelope_seed(argv[1], "v2-signed-request", id, true, ENVELOPE_REQUEST, "do it");
    envelope_seed(argv[1], "v2-signed-reply", id, true, ENVELOPE_REPLY, "done");
    request_seed(argv[2], id);
    busauth_identity_free(id);
    return 0;
}
