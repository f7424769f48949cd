/*
 * A FILE that writes into memory, like open_memstream, but leaves no copy
 * of what it wrote behind: a block is wiped before a larger one replaces
 * it, and stdio's buffer is ours and wiped at the end.  For texts that
 * hold a secret (nats.conf holds the route password: dev/threat-model.md).
 */
#ifndef EMBEDDED_WIPED_TEXT_H
#define EMBEDDED_WIPED_TEXT_H

#include <stddef.h>
#include <stdio.h>

typedef struct wiped_text wiped_text;

/* A stream whose first block holds size_hint bytes (the length of the
 * last such text saves every growth); NULL when memory runs out. */
FILE *wiped_text_open(wiped_text **out, size_t size_hint);
/* Closes f: the text written (malloc'd, NUL-terminated; the caller wipes
 * and frees it), or NULL when a write or the close failed. */
char *wiped_text_close(FILE *f, wiped_text *w);

#endif
