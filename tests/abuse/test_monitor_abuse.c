/*
 * What nats-server tells those it should not about the rooms in use.  A
 * local user of the host looks for the data plane's listening sockets as
 * an attacker would (/proc/net/tcp: every user may read it) and asks each
 * for nats-server's monitoring pages; a member asks nats-server's system
 * account.  "Nothing lost": no answer ever names a room, and the child
 * listens on the data-plane port alone.
 */
#include <dirent.h>
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
#include "busauth/seedfile.h"
#include "fixture.h"
#include "embedded/nats_config.h"
#include "embedded/nats_monitor.h"
#include "membershipd/config/server_identity.h"
#include "nats_peer.h"
#include "raw_socket.h"

#define MAX_PORTS 16

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

/* True when the process pid holds the socket with this inode. */
static bool process_holds_socket(pid_t pid, unsigned long inode)
{
    char dir[64], target[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    snprintf(target, sizeof target, "socket:[%lu]", inode);
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        char path[PATH_MAX], seen[64] = "";
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, seen, sizeof seen - 1);
        found = n > 0 && (seen[n] = '\0', strcmp(seen, target) == 0);
    }
    if (d)
        closedir(d);
    return found;
}

/* The TCP ports pid listens on (IPv4 and IPv6), from the kernel's socket
 * tables: state 0A is LISTEN, the local port is hex after the colon. */
static size_t listening_ports(pid_t pid, unsigned ports[MAX_PORTS])
{
    size_t n = 0;
    const char *tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (size_t t = 0; t < 2; t++) {
        FILE *f = fopen(tables[t], "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) {
            char local[64], state[8];
            unsigned long inode;
            if (sscanf(line, " %*d: %63s %*s %7s %*s %*s %*s %*s %*s %lu", local, state, &inode) != 3 ||
                strcmp(state, "0A") != 0 || !process_holds_socket(pid, inode))
                continue;
            if (n < MAX_PORTS)
                ports[n++] = (unsigned)strtoul(strrchr(local, ':') + 1, NULL, 16);
        }
        if (f)
            fclose(f);
    }
    return n;
}

/* What a local user's plain HTTP GET of target on 127.0.0.1:port reads. */
static void http_get(unsigned port, const char *target, char *out, size_t cap)
{
    out[0] = '\0';
    int fd = raw_connect(port, NULL);
    if (fd < 0)
        return;
    char req[256];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", target);
    raw_send(fd, req, (size_t)len);
    size_t got = 0;
    for (ssize_t r; got + 1 < cap && (r = raw_read(fd, out + got, cap - got, 1000)) > 0;)
        got += (size_t)r;
    close(fd);
}

/* A member subscribed to her room: the subject every connection list with
 * subscriptions would show. */
static void member_in_room(nats_peer *alice, natsSubscription **sub, char room[33])
{
    char subject[96];
    assert_int_equal(fixture_make_room(&F, F.alice, "secret-project", room), 0);
    fixture_room_subject(room, subject);
    assert_int_equal(nats_peer_connect(alice, F.server.nats_url, F.alice, NULL, false), NATS_OK);
    *sub = nats_peer_subscribe(alice, subject);
    assert_non_null(*sub);
}

/* Every socket nats-server listens on, asked for /connz?subs=1 (the
 * unauthenticated HTTP monitor of nats-server 2.9 answers with every
 * connection's subscriptions): none may name the room, and the only
 * listener is the data plane's port. */
static void a_local_user_learns_no_room_from_nats_server_sockets(void **state)
{
    (void)state;
    nats_peer alice;
    natsSubscription *sub;
    char room[33];
    member_in_room(&alice, &sub, room);
    pid_t pid = harness_nats_pid(&F.server);
    assert_true(pid > 0);
    unsigned ports[MAX_PORTS];
    size_t n = listening_ports(pid, ports);
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++) {
        static char page[1 << 20];
        http_get(ports[i], "/connz?subs=1", page, sizeof page);
        if (strstr(page, room))
            fail_msg("port %u of nats-server told a local user the room's subject: %.200s", ports[i],
                     strstr(page, room) - 40 > page ? strstr(page, room) - 40 : page);
    }
    assert_int_equal(n, 1);
    assert_int_equal(ports[0], fixture_nats_port(&F));
    natsSubscription_Destroy(sub);
    nats_peer_close(&alice);
}

/* nats-server's system-account requests, asked with a reply to the
 * peer's own inbox: the subjects every account imports from the system
 * account (server/events.go registerSystemImports: CONNZ and STATZ of the
 * asker's account, where all peers are) and those only the system account
 * serves. */
static const char *const SYS_REQUESTS[] = {
    "$SYS.REQ.SERVER.PING.CONNZ", "$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS.REQ.ACCOUNT.PING.STATZ",
    "$SYS.REQ.SERVER.PING.VARZ",  "$SYS.REQ.SERVER.PING.HEALTHZ", "$SYS.REQ.SERVER.PING",
    "$SYS.REQ.ACCOUNT.$G.STATZ",  "$SYS.REQ.ACCOUNT.$G.CONNZ",
};
#define NREQUESTS (sizeof SYS_REQUESTS / sizeof SYS_REQUESTS[0])

/* Asks every SYS_REQUESTS subject (and the server's own CONNZ by id) with
 * replies to inbox; returns how many answers arrived within 1 s. */
static int ask_system(nats_peer *p, natsSubscription *inbox_sub, const char *inbox)
{
    char direct[192], id[128] = "";
    natsConnection_GetConnectedServerId(p->nc, id, sizeof id);
    snprintf(direct, sizeof direct, "$SYS.REQ.SERVER.%s.CONNZ", id);
    for (size_t i = 0; i < NREQUESTS; i++)
        natsConnection_PublishRequestString(p->nc, SYS_REQUESTS[i], inbox, "{\"subscriptions\":true}");
    natsConnection_PublishRequestString(p->nc, direct, inbox, "{\"subscriptions\":true}");
    natsConnection_Flush(p->nc);
    int answers = 0;
    natsStatus st;
    natsMsg *m = NULL;
    /* A "no responders" status counts too: the request got through. */
    while ((st = natsSubscription_NextMsg(&m, inbox_sub, 1000)) == NATS_OK || st == NATS_NO_RESPONDERS) {
        natsMsg_Destroy(m);
        m = NULL;
        answers++;
    }
    return answers;
}

/* membershipd's own monitoring user, as doctor derives it from server.seed. */
static busauth_identity *system_user(void)
{
    char path[PATH_MAX + 32];
    busauth_identity *server, *system;
    snprintf(path, sizeof path, "%s/server.seed", F.data_dir);
    assert_int_equal(busauth_seedfile_load(path, &server), BUSAUTH_OK);
    assert_int_equal(busauth_identity_derive(server, SERVER_IDENTITY_SYSTEM_CONTEXT, &system), BUSAUTH_OK);
    busauth_identity_free(server);
    return system;
}

/* A member asks nats-server's system account for the connection list (it
 * would name every room subscribed to) and the server's figures: every
 * request is a permissions violation and nothing answers, and $SYS
 * subscriptions are refused.  The control: membershipd's system user asks
 * the same server and is answered with the member's subscription. */
static void a_peer_cannot_ask_the_system_account(void **state)
{
    (void)state;
    nats_peer alice;
    natsSubscription *room_sub;
    char room[33], inbox[128];
    member_in_room(&alice, &room_sub, room);
    snprintf(inbox, sizeof inbox, "unibus.reply.%s.%s.sys", F.alice_nkey, room); /* hers to read */
    natsSubscription *inbox_sub = nats_peer_subscribe(&alice, inbox);
    assert_non_null(inbox_sub);

    assert_int_equal(ask_system(&alice, inbox_sub, inbox), 0);
    assert_int_equal(nats_peer_wait_permission_errors(&alice, NREQUESTS + 1, 2000), NREQUESTS + 1);
    natsSubscription *sys = nats_peer_subscribe(&alice, "$SYS.>");
    assert_int_equal(nats_peer_wait_permission_errors(&alice, NREQUESTS + 2, 2000), NREQUESTS + 2);

    busauth_identity *system = system_user();
    fixture_record_identity(system);
    nats_peer monitor;
    char monitor_inbox[128], nkey[BUSAUTH_NKEY_PUBLIC_LEN + 1];
    busauth_nkey_encode_public(busauth_identity_public_key(system), nkey);
    snprintf(monitor_inbox, sizeof monitor_inbox, "_INBOX.%s.control", nkey);
    assert_int_equal(nats_peer_connect(&monitor, F.server.nats_url, system, NULL, false), NATS_OK);
    natsSubscription *monitor_sub = nats_peer_subscribe(&monitor, monitor_inbox);
    natsMsg *answer = NULL;
    assert_int_equal(natsConnection_PublishRequestString(monitor.nc, "$SYS.REQ.SERVER.PING.CONNZ", monitor_inbox,
                                                         "{\"subscriptions\":true}"), NATS_OK);
    assert_int_equal(natsSubscription_NextMsg(&answer, monitor_sub, 2000), NATS_OK);
    assert_non_null(strstr(natsMsg_GetData(answer), room));
    natsMsg_Destroy(answer);

    natsSubscription_Destroy(monitor_sub);
    nats_peer_close(&monitor);
    busauth_identity_free(system);
    natsSubscription_Destroy(sys);
    natsSubscription_Destroy(inbox_sub);
    natsSubscription_Destroy(room_sub);
    nats_peer_close(&alice);
}

/* The reply-permission self-grant (issue 11, finding 1) aimed at the
 * system account: a member publishes in her room with each $SYS request
 * as the reply subject, receives her own messages, and then asks with the
 * right to "answer" them.  Returns how many answers she got. */
static int self_granted_answers(const char *room)
{
    nats_peer alice;
    char subject[96], inbox[128];
    fixture_room_subject(room, subject);
    snprintf(inbox, sizeof inbox, "unibus.reply.%s.%s.sys", F.alice_nkey, room); /* hers to read */
    natsStatus st = NATS_ERR;
    for (int i = 0; i < 50 && st != NATS_OK; i++) /* nats-server may be starting again */
        if ((st = nats_peer_connect(&alice, F.server.nats_url, F.alice, NULL, false)) != NATS_OK) {
            nats_peer_close(&alice); /* a failed try holds its options */
            usleep(100 * 1000);
        }
    assert_int_equal(st, NATS_OK);
    natsSubscription *room_sub = nats_peer_subscribe(&alice, subject);
    natsSubscription *inbox_sub = nats_peer_subscribe(&alice, inbox);
    natsMsg *echo = NULL;
    for (size_t i = 0; i < NREQUESTS; i++) {
        assert_int_equal(natsConnection_PublishRequestString(alice.nc, subject, SYS_REQUESTS[i], "grant me"), NATS_OK);
        assert_int_equal(natsSubscription_NextMsg(&echo, room_sub, 2000), NATS_OK);
        natsMsg_Destroy(echo);
    }
    int answers = ask_system(&alice, inbox_sub, inbox);
    natsSubscription_Destroy(inbox_sub);
    natsSubscription_Destroy(room_sub);
    nats_peer_close(&alice);
    return answers;
}

/* True while nats.conf grants reply permissions (allow_responses), the
 * self-grant of finding 1, which another change of issue 11 removes. */
/* On a nats-server started with the room in its configuration: every
 * account imports CONNZ and STATZ of its own from the system account
 * (server/events.go registerSystemImports), so a self-granted request
 * would list every peer's subscriptions.  (After a reload the global
 * account has lost those imports: seen here, not relied on.) */
static void a_peer_cannot_grant_itself_a_system_request(void **state)
{
    (void)state;
    char room[33];
    assert_int_equal(fixture_make_room(&F, F.alice, "secret-project", room), 0);
    assert_int_equal(self_granted_answers(room), 0);
    pid_t child = harness_nats_pid(&F.server), next = child;
    kill(child, SIGKILL);
    for (int i = 0; i < 100 && (next == child || next == 0); i++)
        next = harness_nats_pid(&F.server);
    assert_true(next != child && next > 0);
    assert_int_equal(self_granted_answers(room), 0);
}

#define FAT_SUBS 2500
#define FAT_SUBJECT_BYTES 3000

/* A member's megabytes of subscriptions make the connection list an
 * answer of megabytes, which a monitoring request can give up on while it
 * still arrives; destroying that connection then crashed (nats.c 3.4.1
 * frees the subscription the arriving answer is copied for: membershipd
 * aborted in issue 15's ninth adversarial pass).  Timeouts swept across
 * the answer's arrival; the asker (this process, with the code membershipd
 * runs) must survive every one, and a patient reading still works. */
static void a_member_s_megabytes_of_subscriptions_crash_no_monitoring(void **state)
{
    (void)state;
    nats_peer alice;
    natsSubscription *sub;
    char room[33], prefix[96];
    member_in_room(&alice, &sub, room);
    fixture_room_subject(room, prefix);
    char *subject = malloc(FAT_SUBJECT_BYTES + 1);
    static natsSubscription *fat[FAT_SUBS];
    for (int i = 0; i < FAT_SUBS; i++) {
        int n = snprintf(subject, FAT_SUBJECT_BYTES + 1, "%.*s%d.", (int)(strlen(prefix) - 4), prefix, i);
        memset(subject + n, 'x', (size_t)(FAT_SUBJECT_BYTES - n));
        subject[FAT_SUBJECT_BYTES] = '\0';
        assert_int_equal(natsConnection_SubscribeSync(&fat[i], alice.nc, subject), NATS_OK);
    }
    assert_int_equal(natsConnection_FlushTimeout(alice.nc, 10000), NATS_OK);
    free(subject);
    busauth_identity *server_id = server_identity_load_or_create(F.data_dir);
    busauth_identity *system = server_identity_system_user(server_id);
    const char *const accounts[] = {NATSCONF_PEERS_ACCOUNT};
    int timed_out = 0;
    for (int timeout_ms = 5; timeout_ms <= 120; timeout_ms++) {
        nats_monitor m = {.url = F.server.nats_url, .system = system, .timeout_ms = timeout_ms};
        json_t *missing = NULL;
        size_t servers;
        char err[512];
        if (nats_monitor_interest_missing(&m, accounts, 1, &missing, &servers, err, sizeof err) != 0)
            timed_out += strstr(err, "Timeout") != NULL;
        json_decref(missing);
    }
    fprintf(stderr, "%d of 116 readings of %d MB timed out\n", timed_out, FAT_SUBS * FAT_SUBJECT_BYTES >> 20);
    nats_monitor m = {.url = F.server.nats_url, .system = system, .timeout_ms = 30000};
    json_t *missing = NULL;
    size_t servers;
    char err[512];
    assert_int_equal(nats_monitor_interest_missing(&m, accounts, 1, &missing, &servers, err, sizeof err), 0);
    assert_int_equal(json_object_size(missing), 0); /* a single node misses nothing */
    json_decref(missing);
    nats_monitor_release();
    busauth_identity_free(system);
    busauth_identity_free(server_id);
    for (int i = 0; i < FAT_SUBS; i++)
        natsSubscription_Destroy(fat[i]);
    natsSubscription_Destroy(sub);
    nats_peer_close(&alice);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_local_user_learns_no_room_from_nats_server_sockets, setup, teardown),
        cmocka_unit_test_setup_teardown(a_peer_cannot_ask_the_system_account, setup, teardown),
        cmocka_unit_test_setup_teardown(a_peer_cannot_grant_itself_a_system_request, setup, teardown),
        cmocka_unit_test_setup_teardown(a_member_s_megabytes_of_subscriptions_crash_no_monitoring, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
