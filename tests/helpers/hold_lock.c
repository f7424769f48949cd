/* hold_lock DB MS: takes SQLite's write lock on DB, prints "locked", holds
 * it MS milliseconds, then commits: "another process holds the database". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sqlite3.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: hold_lock DB MS\n");
        return 2;
    }
    sqlite3 *db;
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "hold_lock: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    printf("locked\n");
    fflush(stdout);
    long ms = strtol(argv[2], NULL, 10);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : 1;
}
