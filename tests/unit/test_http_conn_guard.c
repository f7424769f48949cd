/* The connection guard on real sockets (socket pairs): who gets cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "membershipd/http/conn_guard.h"
#include "testutil.h"

typedef struct {
    int server, client;
} pair;

static pair make_pair(void)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    return (pair){fds[0], fds[1]};
}

/* The client end sees end-of-file within timeout_ms: its server end was shut down. */
static bool cut_off(const pair *p, int timeout_ms)
{
    struct pollfd pfd = {.fd = p->client, .events = POLLIN};
    char byte;
    return poll(&pfd, 1, timeout_ms) == 1 && read(p->client, &byte, 1) == 0;
}

static void close_pair(const pair *p)
{
    close(p->server);
    close(p->client);
}

static void a_newcomer_displaces_the_longest_waiting(void **state)
{
    (void)state;
    conn_guard *g = conn_guard_new(2, 60000);
    pair a = make_pair(), b = make_pair(), c = make_pair();
    conn_slot *sa = conn_guard_open(g, a.server);
    test_sleep_ms(5);
    conn_slot *sb = conn_guard_open(g, b.server);
    conn_slot *sc = conn_guard_open(g, c.server);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_non_null(sc);
    assert_true(cut_off(&a, 1000));
    assert_false(cut_off(&b, 50));
    conn_guard_stats st = conn_guard_stats_get(g);
    assert_int_equal(st.open, 2);
    assert_int_equal(st.evicted, 1);
    conn_guard_busy(g, sa); /* a cut connection's callbacks are harmless */
    conn_guard_close(g, sa);
    conn_guard_close(g, sb);
    conn_guard_close(g, sc);
    assert_int_equal(conn_guard_stats_get(g).open, 0);
    conn_guard_free(g);
    close_pair(&a), close_pair(&b), close_pair(&c);
}

static void connections_in_requests_are_never_displaced(void **state)
{
    (void)state;
    conn_guard *g = conn_guard_new(2, 60000);
    pair a = make_pair(), b = make_pair(), c = make_pair();
    conn_slot *sa = conn_guard_open(g, a.server), *sb = conn_guard_open(g, b.server);
    conn_guard_busy(g, sa);
    conn_guard_busy(g, sb);
    assert_null(conn_guard_open(g, c.server)); /* refused: every slot is working */
    assert_true(cut_off(&c, 1000));
    assert_false(cut_off(&a, 50));
    assert_false(cut_off(&b, 50));
    assert_int_equal(conn_guard_stats_get(g).refused, 1);
    conn_guard_idle(g, sa); /* its request is over: now it waits, and may be displaced */
    pair d = make_pair();
    conn_slot *sd = conn_guard_open(g, d.server);
    assert_non_null(sd);
    assert_true(cut_off(&a, 1000));
    conn_guard_close(g, sa), conn_guard_close(g, sb), conn_guard_close(g, sd);
    conn_guard_free(g);
    close_pair(&a), close_pair(&b), close_pair(&c), close_pair(&d);
}

static void waiting_past_the_header_deadline_is_cut(void **state)
{
    (void)state;
    conn_guard *g = conn_guard_new(4, 200);
    pair idle = make_pair(), working = make_pair();
    conn_slot *si = conn_guard_open(g, idle.server), *sw = conn_guard_open(g, working.server);
    conn_guard_busy(g, sw);
    assert_true(cut_off(&idle, 2000));
    assert_false(cut_off(&working, 600)); /* a request in progress has its own deadline */
    conn_guard_stats st = conn_guard_stats_get(g);
    assert_int_equal(st.overdue, 1);
    assert_int_equal(st.open, 1);
    conn_guard_close(g, si), conn_guard_close(g, sw);
    conn_guard_close(g, NULL);
    conn_guard_free(g);
    close_pair(&idle), close_pair(&working);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_newcomer_displaces_the_longest_waiting),
        cmocka_unit_test(connections_in_requests_are_never_displaced),
        cmocka_unit_test(waiting_past_the_header_deadline_is_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
