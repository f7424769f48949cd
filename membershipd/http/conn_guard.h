/*
 * Connection slots for the control plane, kept for clients that use them.
 *
 * A client that opens a connection and then sends its headers slowly (or
 * not at all) holds a slot and a thread.  libmicrohttpd's idle timeout
 * does not end a connection that dribbles a byte now and then, and its
 * connection cap, once full of such clients, refuses everyone else.  So
 * every connection is tracked here, as either waiting for headers (new, or
 * kept alive between requests) or in a request, and:
 *  - a connection that waits for headers longer than the header deadline
 *    is shut down, however it trickles;
 *  - when every slot is taken, a new connection takes the slot of the one
 *    that has waited for headers longest; only when all are in requests is
 *    the newcomer refused.
 */
#ifndef MEMBERSHIPD_CONN_GUARD_H
#define MEMBERSHIPD_CONN_GUARD_H

#include <stdint.h>

typedef struct conn_guard conn_guard;
typedef struct conn_slot conn_slot;

typedef struct {
    unsigned open;      /* connections holding a slot */
    uint64_t evicted;   /* shut down to make room for a newcomer */
    uint64_t refused;   /* newcomers shut down: every slot was in a request */
    uint64_t overdue;   /* shut down for waiting past the header deadline */
} conn_guard_stats;

/* capacity slots; header_deadline_ms from connect (or the end of the last
 * request) to the end of the next request's headers.  Starts the thread
 * that enforces the deadline.  NULL when out of memory or threads. */
conn_guard *conn_guard_new(unsigned capacity, int64_t header_deadline_ms);
/* Stops the thread; every connection must have been closed. */
void conn_guard_free(conn_guard *g);

/* A connection was accepted on fd.  Returns its slot, or NULL when it was
 * refused (its socket is then shut down, and libmicrohttpd closes it). */
conn_slot *conn_guard_open(conn_guard *g, int fd);
/* Its headers are in: it is in a request and keeps its slot. */
void conn_guard_busy(conn_guard *g, conn_slot *s);
/* Its request is over: it waits for the next one's headers. */
void conn_guard_idle(conn_guard *g, conn_slot *s);
/* libmicrohttpd is about to close its socket.  s may be NULL. */
void conn_guard_close(conn_guard *g, conn_slot *s);

conn_guard_stats conn_guard_stats_get(conn_guard *g);

#endif
