#include "peers.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sodium.h>
#include "busauth/nkey.h"
#include "raw_socket.h"

#define HANDSHAKE_TIMEOUT_MS 3000

/* Reads until text shows up (or an error line): 0 when it did.  Returns
 * as soon as it is there (raw_read would linger for more bytes). */
static int read_until(int fd, char *buf, size_t cap, const char *text)
{
    size_t used = 0;
    buf[0] = '\0';
    while (!strstr(buf, text) && !strstr(buf, "-ERR") && used + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n = poll(&p, 1, HANDSHAKE_TIMEOUT_MS) == 1 ? recv(fd, buf + used, cap - used - 1, 0) : -1;
        if (n <= 0)
            return -1;
        used += (size_t)n;
        buf[used] = '\0';
    }
    return strstr(buf, text) ? 0 : -1;
}

static int connect_one(unsigned port, const uint8_t seed[32])
{
    int fd = raw_connect(port, NULL);
    char buf[4096];
    if (fd < 0 || read_until(fd, buf, sizeof buf, "\r\n") != 0 || strncmp(buf, "INFO ", 5) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *strstr(buf, "\r\n") = '\0';
    json_t *info = json_loads(buf + 5, 0, NULL);
    const char *nonce = json_string_value(json_object_get(info, "nonce"));
    uint8_t pk[32], sk[64], sig[64];
    crypto_sign_seed_keypair(pk, sk, seed);
    char sig_text[100], nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1], line[512];
    int ok = nonce != NULL;
    if (ok) {
        crypto_sign_detached(sig, NULL, (const uint8_t *)nonce, strlen(nonce), sk);
        sodium_bin2base64(sig_text, sizeof sig_text, sig, sizeof sig, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        busauth_nkey_encode_public(pk, nkey);
        int n = snprintf(line, sizeof line,
                         "CONNECT {\"verbose\":false,\"pedantic\":false,\"lang\":\"c\",\"version\":\"bench\","
                         "\"protocol\":1,\"nkey\":\"%s\",\"sig\":\"%s\"}\r\nPING\r\n", nkey, sig_text);
        ok = raw_send(fd, line, (size_t)n) == (size_t)n && read_until(fd, buf, sizeof buf, "PONG") == 0;
    }
    sodium_memzero(sk, sizeof sk);
    json_decref(info);
    if (!ok) {
        close(fd);
        return -1;
    }
    return fd;
}

size_t peers_connect(unsigned port, const uint8_t (*seeds)[32], size_t n, int *fds)
{
    size_t in = 0;
    for (size_t i = 0; i < n; i++) {
        fds[i] = -1;
        /* nats-server 2.9.10 now and then refuses an allowlisted key once. */
        for (int attempt = 0; attempt < 3 && fds[i] < 0; attempt++)
            fds[i] = connect_one(port, seeds[i]);
        in += fds[i] >= 0;
    }
    return in;
}

void peers_close(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}
