/* Helpers for the unit tests: temporary directories that clean up. */
#ifndef UNIBUS_TESTUTIL_H
#define UNIBUS_TESTUTIL_H

#include <limits.h>

/* Creates a fresh 0700 directory under $TMPDIR (or /tmp) into dir. */
/* Sleeps ms milliseconds. */
void test_sleep_ms(int ms);
void test_make_temp_dir(char dir[PATH_MAX]);
/* rm -rf dir */
void test_remove_tree(const char *dir);
/* The permission bits of path, or -1. */
int test_file_mode(const char *path);
/* Writes text to path with the given mode (replacing any file). */
void test_write_file(const char *path, const char *text, int mode);
/* Replaces to with a copy of from, whole (a temporary file renamed over
 * it, as a deploy tool does), with mode.  0, or -1 on any error. */
int test_replace_file(const char *from, const char *to, int mode);

/* A PEM CSR with one byte of its signature flipped: it parses, it does
 * not verify (a key its sender does not hold); NULL on failure. */
char *test_csr_with_broken_signature(const char *pem);

#endif
