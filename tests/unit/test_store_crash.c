/*
 * kill -9 in the middle of a burst of user adds: every add the child
 * acknowledged (reported through a pipe after store_user_add returned) is
 * in the database afterwards, with its audit line, and the file passes
 * PRAGMA integrity_check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>
#include "membershipd/store/store.h"
#include "testutil.h"

static const store_actor ADMIN = {"local:crash-test", NULL, NULL};

static void add_until_killed(const char *path, int ack_fd, int round)
{
    store *s;
    char err[512];
    if (store_open(path, STORE_OPEN_CREATE, &s, err, sizeof err) != STORE_OK)
        _exit(2);
    for (int32_t i = 0;; i++) {
        char name[32];
        uint8_t key[32];
        snprintf(name, sizeof name, "r%d-u%d", round, i);
        randombytes_buf(key, sizeof key);
        if (store_user_add(s, name, key, STORE_ROLE_MEMBER, &ADMIN) != STORE_OK)
            _exit(3);
        if (write(ack_fd, &i, sizeof i) != sizeof i)
            _exit(4);
    }
}

static int64_t count_where(sqlite3 *db, const char *sql, const char *arg)
{
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    if (arg)
        sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return n;
}

static void check_integrity(sqlite3 *db)
{
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "ok");
    sqlite3_finalize(stmt);
}

/* Returns how many adds were acknowledged before the kill. */
static int32_t burst_then_kill(const char *path, int round, int32_t kill_after)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        add_until_killed(path, fds[1], round);
    }
    close(fds[1]);
    int32_t acked = 0, index;
    while (read(fds[0], &index, sizeof index) == sizeof index) {
        assert_int_equal(index, acked);
        if (++acked == kill_after)
            kill(pid, SIGKILL);
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    return acked;
}

static void no_acknowledged_add_is_lost(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX + 16];
    test_make_temp_dir(dir);
    snprintf(path, sizeof path, "%s/membership.db", dir);
    int64_t total = 0;
    for (int round = 0; round < 4; round++) {
        int32_t acked = burst_then_kill(path, round, 40 + (int32_t)randombytes_uniform(120));
        assert_true(acked >= 40);
        sqlite3 *db;
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        check_integrity(db);
        for (int32_t i = 0; i < acked; i++) {
            char name[32], target[40];
            snprintf(name, sizeof name, "r%d-u%d", round, i);
            snprintf(target, sizeof target, "user:%s", name);
            assert_int_equal(count_where(db, "SELECT count(*) FROM users WHERE name = ?", name), 1);
            assert_int_equal(count_where(db, "SELECT count(*) FROM audit_log WHERE target = ?", target), 1);
        }
        /* At most the one add in flight at the kill may have landed unacknowledged. */
        int64_t users = count_where(db, "SELECT count(*) FROM users", NULL);
        assert_true(users - total == acked || users - total == acked + 1);
        assert_int_equal(count_where(db, "SELECT count(*) FROM audit_log", NULL), users);
        total = users;
        sqlite3_close(db);
    }
    test_remove_tree(dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(no_acknowledged_add_is_lost)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
