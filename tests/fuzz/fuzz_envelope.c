/*
 * The client's message envelope as a receiver meets it: peek at the
 * header, verify, decrypt, open, with the room key the seeds were sealed
 * with (make_seeds.c), and the id a reply would name.  Input: the envelope
 * bytes (version 1 seeds included: they must be refused).
 */
#include <string.h>
#include "envelope.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready && busauth_init() != BUSAUTH_OK)
        abort();
    ready = true;
    uint8_t *in = malloc(size ? size : 1), *out = malloc(size ? size : 1);
    memcpy(in, data, size);
    uint8_t key[ENVELOPE_KEY_LEN];
    fuzz_room_key(key);
    envelope_header h = {0};
    unibus_status peeked = envelope_peek(in, size, &h);
    FUZZ_CHECK(peeked != UNIBUS_OK || in[0] == ENVELOPE_VERSION);
    uint8_t id[ENVELOPE_ID_LEN];
    envelope_id(in, size, id);
    unibus_status verified = envelope_verify(in, size);
    FUZZ_CHECK(verified != UNIBUS_OK || (peeked == UNIBUS_OK && (h.flags & ENVELOPE_FLAG_SIGNED)));
    size_t len = 0;
    unibus_status decrypted = envelope_decrypt(FUZZ_ROOM_ID, key, in, size, out, &len);
    FUZZ_CHECK(decrypted != UNIBUS_OK || (peeked == UNIBUS_OK && len == size - envelope_sealed_len(0, h.flags)));
    size_t open_len = 0;
    unibus_status opened = envelope_open(FUZZ_ROOM_ID, key, in, size, out, &open_len);
    bool sig_ok = !(h.flags & ENVELOPE_FLAG_SIGNED) || verified == UNIBUS_OK;
    FUZZ_CHECK((opened == UNIBUS_OK) == (decrypted == UNIBUS_OK && sig_ok));
    FUZZ_CHECK(opened != UNIBUS_OK || open_len == len);
    free(in);
    free(out);
    return 0;
}
