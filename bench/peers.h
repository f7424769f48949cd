/* Many authenticated data-plane peers at once, each a plain socket that
 * did the NATS nkey handshake by hand (INFO nonce -> CONNECT with the
 * nkey and its signature -> PING/PONG): no thread per connection. */
#ifndef UNIBUS_BENCH_PEERS_H
#define UNIBUS_BENCH_PEERS_H

#include <stddef.h>
#include <stdint.h>

/* Connects n peers with the given Ed25519 seeds; fds[i] is -1 for a peer
 * nats-server refused (after three tries).  Returns how many are in. */
size_t peers_connect(unsigned port, const uint8_t (*seeds)[32], size_t n, int *fds);
void peers_close(int *fds, size_t n);

#endif
