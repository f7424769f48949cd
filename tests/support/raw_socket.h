/* Plain sockets for abuse tests: what a hostile client does by hand. */
#ifndef UNIBUS_RAW_SOCKET_H
#define UNIBUS_RAW_SOCKET_H

#include <stddef.h>
#include <sys/types.h>

/* Connects to 127.0.0.1:port from source_ip (any 127.x address, NULL for
 * the default).  Returns the fd or -1. */
int raw_connect(unsigned port, const char *source_ip);
/* Sends all of data (no SIGPIPE); returns bytes sent before an error. */
size_t raw_send(int fd, const void *data, size_t len);
/* Reads what arrives within timeout_ms into buf (NUL-terminated); returns
 * the byte count, 0 on orderly close, -1 on error or timeout with nothing. */
ssize_t raw_read(int fd, char *buf, size_t cap, int timeout_ms);
/* True when the peer has closed (or reset) the connection within timeout_ms. */
int raw_closed(int fd, int timeout_ms);

#endif
