/* Blobs: encrypted here (crypto_secretstream, 64 KiB chunks) through a
 * private temporary file, uploaded by the SHA-256 of the ciphertext to one
 * room, fetched, checked and decrypted the same way round. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "room_state.h"

#define CHUNK (64 * 1024)
#define SEALED_CHUNK (CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES)
#define BLOB_MAX (16 * 1024 * 1024 + 64 * 1024) /* the server's cap: 16 MiB of content, sealed */

static FILE *private_temp(void)
{
    FILE *f = tmpfile(); /* unlinked at once; 0600 under umask 077 or not, nobody else can open it */
    return f;
}

/* plain -> sealed, hashing the sealed bytes; returns the sealed size or -1. */
static long seal_stream(FILE *plain, FILE *sealed, const uint8_t key[32], crypto_hash_sha256_state *hash)
{
    crypto_secretstream_xchacha20poly1305_state st;
    uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    uint8_t *in = malloc(CHUNK), *out = malloc(SEALED_CHUNK);
    long total = -1;
    if (in && out && crypto_secretstream_xchacha20poly1305_init_push(&st, header, key) == 0 &&
        fwrite(header, 1, sizeof header, sealed) == sizeof header) {
        crypto_hash_sha256_update(hash, header, sizeof header);
        total = (long)sizeof header;
        size_t n;
        do {
            n = fread(in, 1, CHUNK, plain);
            uint8_t tag = feof(plain) ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0;
            unsigned long long out_len;
            crypto_secretstream_xchacha20poly1305_push(&st, out, &out_len, in, n, NULL, 0, tag);
            crypto_hash_sha256_update(hash, out, (size_t)out_len);
            total = fwrite(out, 1, (size_t)out_len, sealed) == out_len && total + (long)out_len <= BLOB_MAX
                        ? total + (long)out_len : -1;
        } while (total >= 0 && !feof(plain) && !ferror(plain));
        total = ferror(plain) ? -1 : total;
    }
    sodium_memzero(&st, sizeof st);
    free(in);
    free(out);
    return total;
}

static void format_ref(char ref[UNIBUS_BLOB_REF_MAX], const char *room_id, const uint8_t sha[32], const uint8_t key[32])
{
    char hex[65], b64[48];
    sodium_bin2hex(hex, sizeof hex, sha, 32);
    sodium_bin2base64(b64, sizeof b64, key, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(ref, UNIBUS_BLOB_REF_MAX, "blob:%s:%s:%s", room_id, hex, b64);
    sodium_memzero(b64, sizeof b64);
}

unibus_status unibus_blob_put(unibus_client *c, const char *room, const char *path, char ref[UNIBUS_BLOB_REF_MAX])
{
    pthread_mutex_lock(&c->state_lock);
    room_state *rs = NULL;
    unibus_status s = room ? room_state_resolve(c, room, &rs) : UNIBUS_ERR_INVALID_ARG;
    pthread_mutex_unlock(&c->state_lock);
    FILE *plain = s == UNIBUS_OK ? fopen(path, "rb") : NULL;
    if (s == UNIBUS_OK && !plain)
        s = client_fail(c, UNIBUS_ERR_INVALID_ARG, "cannot read %s: %s", path, strerror(errno));
    FILE *sealed = s == UNIBUS_OK ? private_temp() : NULL;
    uint8_t key[32];
    randombytes_buf(key, sizeof key);
    call_body body = {.file = sealed};
    crypto_hash_sha256_state hash;
    crypto_hash_sha256_init(&hash);
    long len = sealed ? seal_stream(plain, sealed, key, &hash) : -1;
    if (s == UNIBUS_OK && (len < 0 || fflush(sealed) != 0 || fseek(sealed, 0, SEEK_SET) != 0))
        s = client_fail(c, UNIBUS_ERR_INVALID_ARG, "%s is unreadable or over %d bytes once sealed", path, BLOB_MAX);
    char target[160];
    json_t *answer = NULL;
    if (s == UNIBUS_OK) {
        crypto_hash_sha256_final(&hash, body.sha256);
        body.file_len = (size_t)len;
        char hex[65];
        sodium_bin2hex(hex, sizeof hex, body.sha256, 32);
        snprintf(target, sizeof target, "/v1/blobs/%s?room=%s", hex, room_state_id(rs));
        s = client_call_raw(c, "PUT", target, &body, NULL, &answer);
        s = client_answer_about(c, s, answer, "sha256", hex, "blob");
        s = client_answer_about(c, s, answer, "room", room_state_id(rs), "room");
    }
    if (s == UNIBUS_OK)
        format_ref(ref, room_state_id(rs), body.sha256, key);
    sodium_memzero(key, sizeof key);
    json_decref(answer);
    if (plain)
        fclose(plain);
    if (sealed)
        fclose(sealed);
    return s;
}

/* "blob:ROOM:SHA:KEY" into its parts. */
static bool parse_ref(const char *ref, char room[33], char hex[65], uint8_t key[32])
{
    char b64[64];
    size_t len = 0;
    if (sscanf(ref, "blob:%32[0-9a-f]:%64[0-9a-f]:%63[A-Za-z0-9_-]", room, hex, b64) != 3 ||
        strlen(room) != 32 || strlen(hex) != 64)
        return false;
    bool ok = sodium_base642bin(key, 32, b64, strlen(b64), NULL, &len, NULL,
                                sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 && len == 32;
    sodium_memzero(b64, sizeof b64);
    return ok;
}

static bool open_stream(FILE *sealed, int out_fd, const uint8_t key[32])
{
    crypto_secretstream_xchacha20poly1305_state st;
    uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    uint8_t *in = malloc(SEALED_CHUNK), *out = malloc(CHUNK);
    bool ok = in && out && fread(header, 1, sizeof header, sealed) == sizeof header &&
              crypto_secretstream_xchacha20poly1305_init_pull(&st, header, key) == 0;
    uint8_t tag = 0;
    while (ok && tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
        size_t n = fread(in, 1, SEALED_CHUNK, sealed);
        unsigned long long out_len;
        ok = n >= crypto_secretstream_xchacha20poly1305_ABYTES &&
             crypto_secretstream_xchacha20poly1305_pull(&st, out, &out_len, &tag, in, n, NULL, 0) == 0 &&
             write(out_fd, out, (size_t)out_len) == (ssize_t)out_len;
    }
    ok = ok && fgetc(sealed) == EOF; /* nothing after the final chunk */
    sodium_memzero(&st, sizeof st);
    free(in);
    free(out);
    return ok;
}

unibus_status unibus_blob_get(unibus_client *c, const char *ref, const char *path)
{
    char room[33], hex[65], target[160];
    uint8_t key[32];
    if (!ref || !path || !parse_ref(ref, room, hex, key))
        return client_fail(c, UNIBUS_ERR_INVALID_ARG, "not a blob reference (blob:ROOM:SHA256:KEY)");
    FILE *sealed = private_temp();
    snprintf(target, sizeof target, "/v1/blobs/%s?room=%s", hex, room);
    call_body none = {0};
    crypto_hash_sha256(none.sha256, (const uint8_t *)"", 0);
    json_t *answer = NULL;
    unibus_status s = sealed ? client_call_raw(c, "GET", target, &none, sealed, &answer) : UNIBUS_ERR_NOMEM;
    json_decref(answer);
    uint8_t sha[32], want[32];
    sodium_hex2bin(want, sizeof want, hex, 64, NULL, NULL, NULL);
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    uint8_t buf[CHUNK];
    size_t n;
    if (s == UNIBUS_OK && fseek(sealed, 0, SEEK_SET) == 0)
        while ((n = fread(buf, 1, sizeof buf, sealed)) > 0)
            crypto_hash_sha256_update(&h, buf, n);
    crypto_hash_sha256_final(&h, sha);
    if (s == UNIBUS_OK && sodium_memcmp(sha, want, 32) != 0)
        s = client_fail(c, UNIBUS_ERR_DECRYPT, "the blob's SHA-256 is not the one in the reference");
    int fd = s == UNIBUS_OK ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
    if (s == UNIBUS_OK && fd < 0)
        s = client_fail(c, UNIBUS_ERR_INVALID_ARG, "cannot create %s: %s", path, strerror(errno));
    if (s == UNIBUS_OK && (fseek(sealed, 0, SEEK_SET) != 0 || !open_stream(sealed, fd, key)))
        s = client_fail(c, UNIBUS_ERR_DECRYPT, "the blob does not decrypt with the reference's key");
    if (fd >= 0)
        close(fd);
    if (s != UNIBUS_OK && fd >= 0)
        unlink(path); /* nothing half-written stays behind */
    sodium_memzero(key, sizeof key);
    if (sealed)
        fclose(sealed);
    return s;
}
