/*
 * The store as a command that changes the bus opens it (dev/control-log.md,
 * "The offline CLI"): once a store is the state of a bus log, its changes
 * go through that log, by this node's nats-server, like the API's; before
 * (a node that never served), they are written directly.
 */
#ifndef MEMBERSHIPD_CLI_STORE_CHANGE_H
#define MEMBERSHIPD_CLI_STORE_CHANGE_H

#include "membershipd/config/datadir.h"
#include "membershipd/store/store.h"

/* cli_open_store, then the bus log joined when the store is attached to
 * one; an exit code, having said why (one line) when the log is out of
 * reach: nothing is changed then. */
int cli_open_store_for_change(const store_location *loc, store_open_mode mode, store **out);
/* Leaves the log (if joined) and closes the store. */
void cli_close_store_for_change(store *s);

#endif
