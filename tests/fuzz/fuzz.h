/*
 * What the libFuzzer targets share (dev/fuzzing.md): the entry point, a
 * check that aborts (so libFuzzer records the input), and the fixed keys
 * and clock the seed corpora were made with (make_seeds.c).
 */
#ifndef UNIBUS_FUZZ_H
#define UNIBUS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sanitizer/common_interface_defs.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reported on the sanitizer's channel, which libFuzzer keeps open when
 * -close_fd_mask silences the code under test. */
#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            __sanitizer_report_error_summary(__FILE__ ": invariant broken: " #cond);        \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* The signed-request test vector of dev/signed-requests.md: its seed is
 * 00 01 .. 1f, its time the fuzzers' "now". */
#define FUZZ_NOW_MS 1700000000000LL
/* The server the fuzzed requests are for: the server key of
 * dev/signed-requests.md's test vector. */
#define FUZZ_SERVER_NKEY "UAU2ZOXBIG6MV4FSFYNJJU2NBPDTMHSSNUF74EWIS6KLZEZCSZW5PMRM"
void fuzz_vector_seed(uint8_t seed[32]);

/* The room and key the envelope seeds are sealed with. */
#define FUZZ_ROOM_ID "00112233445566778899aabbccddeeff"
void fuzz_room_key(uint8_t key[32]);

/* Splits data at sep into at most max fields, each its own malloc'd,
 * NUL-terminated copy (exactly sized, so ASan sees any overread); the last
 * field takes the rest, its length (NULs included) in *last_len.  Returns
 * the count; fuzz_fields_free releases. */
size_t fuzz_split(const uint8_t *data, size_t size, char sep, char **fields, size_t max, size_t *last_len);
void fuzz_fields_free(char **fields, size_t n);

#endif
