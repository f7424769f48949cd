/*
 * Abuse of the data plane and of its supervision: clients that open the
 * NATS port and never log in, and nats-server killed with SIGKILL again
 * and again.  "Nothing lost": a member's live connection keeps (or gets
 * back) its traffic throughout, and exactly one nats-server serves the
 * data dir at every point, none left behind.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "fixture.h"
#include "nats_peer.h"
#include "raw_socket.h"

static fixture F;

static int setup(void **state)
{
    (void)state;
    return fixture_start(&F, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&F);
}

typedef struct {
    nats_peer peer;
    natsSubscription *sub;
    char subject[96];
} member;

static void member_join(member *m)
{
    char room[33];
    assert_int_equal(fixture_make_room(&F, F.alice, "abuse", room), 0);
    fixture_room_subject(room, m->subject);
    assert_int_equal(nats_peer_connect(&m->peer, F.server.nats_url, F.alice, NULL, true), NATS_OK);
    m->sub = nats_peer_subscribe(&m->peer, m->subject);
    assert_non_null(m->sub);
}

static void member_leave(member *m)
{
    natsSubscription_Destroy(m->sub);
    nats_peer_close(&m->peer);
}

/* 200 connections that read the server's INFO and then say nothing: each
 * is closed by nats-server's authorization timeout (2 s), and a member's
 * traffic flows all the while. */
static void silent_clients_are_dropped_before_they_log_in(void **state)
{
    (void)state;
    member m;
    member_join(&m);
    enum { SILENT = 200 };
    int fds[SILENT];
    for (int i = 0; i < SILENT; i++) {
        char info[4096];
        fds[i] = raw_connect(fixture_nats_port(&F), NULL);
        assert_true(fds[i] >= 0);
        assert_true(raw_read(fds[i], info, sizeof info, 2000) > 0);
        assert_non_null(strstr(info, "INFO {"));
        assert_non_null(strstr(info, "\"nonce\""));
    }
    assert_true(nats_peer_echoes(&m.peer, m.sub, m.subject, "meanwhile", 2000));
    int closed = 0;
    for (int i = 0; i < SILENT; i++) {
        closed += raw_closed(fds[i], 6000);
        close(fds[i]);
    }
    assert_int_equal(closed, SILENT);
    assert_true(nats_peer_echoes(&m.peer, m.sub, m.subject, "afterwards", 2000));
    member_leave(&m);
}

/* nats-server processes running with a configuration in the data dir. */
static int nats_servers_of_data_dir(void)
{
    char text[PATH_MAX + 32];
    snprintf(text, sizeof text, "nats-server -c %s/", F.data_dir);
    return harness_count_processes(text);
}

static void restart_delays(int *delays, int cap, int *count)
{
    FILE *f = fopen(F.server.log_path, "r");
    char line[2048];
    *count = 0;
    while (f && fgets(line, sizeof line, f) && *count < cap) {
        const char *d = strstr(line, "restart_in_ms=");
        if (strstr(line, "nats_exited") && d)
            delays[(*count)++] = atoi(d + strlen("restart_in_ms="));
    }
    if (f)
        fclose(f);
}

/* Six SIGKILLs, each as soon as the last restart is serving: every time
 * the member's reconnecting connection gets its traffic back, the delay
 * before each restart doubles (nats-server never lived 30 s), and one
 * nats-server (never two, never an orphan) serves the data dir. */
static void nats_server_killed_in_a_loop_comes_back_each_time(void **state)
{
    (void)state;
    member m;
    member_join(&m);
    enum { ROUNDS = 6 };
    for (int round = 0; round < ROUNDS; round++) {
        pid_t child = harness_nats_pid(&F.server);
        assert_true(child > 0);
        assert_int_equal(nats_servers_of_data_dir(), 1);
        kill(child, SIGKILL);
        pid_t next = child;
        for (int i = 0; i < 100 && (next == child || next == 0); i++)
            next = harness_nats_pid(&F.server); /* the killed one lingers until reaped */
        assert_true(next != child && next > 0);
        assert_true(nats_peer_echoes(&m.peer, m.sub, m.subject, "back again", 15000));
        assert_int_equal(nats_servers_of_data_dir(), 1);
    }
    int delays[16], count;
    restart_delays(delays, 16, &count);
    fprintf(stderr, "restart delays (ms):");
    for (int i = 0; i < count; i++)
        fprintf(stderr, " %d", delays[i]);
    fprintf(stderr, "\n");
    assert_int_equal(count, ROUNDS);
    for (int i = 1; i < count; i++)
        assert_int_equal(delays[i], delays[i - 1] * 2 > 5000 ? 5000 : delays[i - 1] * 2);
    member_leave(&m);
    assert_int_equal(fixture_stop(&F), 0);
    assert_int_equal(nats_servers_of_data_dir(), 0);
    assert_int_equal(fixture_start(&F, NULL), 0); /* for the group teardown */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(silent_clients_are_dropped_before_they_log_in),
        cmocka_unit_test(nats_server_killed_in_a_loop_comes_back_each_time),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
