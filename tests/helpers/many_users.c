/* many_users DB N: adds N members (many-00000...) with random keys to a
 * store that has never served, in one transaction: a bus of that size for
 * tests, made in a second instead of N separate commands. */
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <sqlite3.h>

int main(int argc, char **argv)
{
    long n = argc == 3 ? strtol(argv[2], NULL, 10) : 0;
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    if (n <= 0 || sodium_init() < 0) {
        fprintf(stderr, "usage: many_users DB N\n");
        return 2;
    }
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO users (name, public_key, role, created_at) VALUES (?, ?, 'member', "
                               "strftime('%s', 'now') * 1000)", -1, &stmt, NULL) != SQLITE_OK) {
        fprintf(stderr, "many_users: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    for (long i = 0; i < n; i++) {
        char name[32];
        unsigned char key[32];
        snprintf(name, sizeof name, "many-%05ld", i);
        randombytes_buf(key, sizeof key);
        sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(stmt, 2, key, sizeof key, SQLITE_TRANSIENT);
        if (sqlite3_step(stmt) != SQLITE_DONE) {
            fprintf(stderr, "many_users: %s\n", sqlite3_errmsg(db));
            return 1;
        }
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : 1;
}
