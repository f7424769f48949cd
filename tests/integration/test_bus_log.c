/* The bus log on one node (dev/control-log.md): an entry cut in parts whose
 * writer died leaves its parts at the end of the stream; the node must
 * still start, pass over them when the next entry comes, and lose nothing
 * else (found by the adversarial pass: a single node stayed down). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <nats/nats.h>
#include "busauth/seedfile.h"
#include "embedded/nats_auth.h"
#include "fixture.h"
#include "membershipd/config/server_identity.h"

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
    busauth_identity *user;
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
} log_session;

/* Logs in as the node's own bus-log user (its key derives from server.seed). */
static void log_open(log_session *s)
{
    char seed[PATH_MAX + 32], url[64];
    busauth_identity *server = NULL;
    snprintf(seed, sizeof seed, "%s/server.seed", F.data_dir);
    assert_int_equal(busauth_seedfile_load(seed, &server), BUSAUTH_OK);
    s->user = server_identity_log_user(server);
    busauth_identity_free(server);
    snprintf(url, sizeof url, "nats://127.0.0.1:%u", fixture_nats_port(&F));
    assert_int_equal(natsOptions_Create(&s->opts), NATS_OK);
    assert_int_equal(natsOptions_SetURL(s->opts, url), NATS_OK);
    assert_int_equal(nats_auth_use_identity(s->opts, s->user), NATS_OK);
    assert_int_equal(nats_auth_connect(&s->nc, s->opts), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&s->js, s->nc, NULL), NATS_OK);
}

static void log_close(log_session *s)
{
    jsCtx_Destroy(s->js);
    natsConnection_Destroy(s->nc);
    natsOptions_Destroy(s->opts);
    busauth_identity_free(s->user);
}

static uint64_t last_seq(log_session *s)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    assert_int_equal(js_GetStreamInfo(&si, s->js, "UNIBUS_LOG", NULL, &jerr), NATS_OK);
    uint64_t last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return last;
}

/* Part i of 3 of an entry whose writer never sends the rest. */
static void orphan_part(log_session *s, int i)
{
    natsMsg *msg = NULL;
    char part[8];
    snprintf(part, sizeof part, "%d/3", i);
    assert_int_equal(natsMsg_Create(&msg, "unibus.log", NULL, "not a changeset", 15), NATS_OK);
    assert_int_equal(natsMsgHeader_Set(msg, "Unibus-Entry", "0123456789abcdef0123456789abcdef"), NATS_OK);
    assert_int_equal(natsMsgHeader_Set(msg, "Unibus-Part", part), NATS_OK);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectLastSeq = last_seq(s);
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    assert_int_equal(js_PublishMsg(&ack, s->js, msg, &po, &jerr), NATS_OK);
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(msg);
}

static void a_dead_writers_parts_at_the_end_stop_nothing(void **state)
{
    (void)state;
    char before[33], after[33];
    assert_int_equal(fixture_make_room(&F, F.alice, "before", before), 0);
    long rooms = fixture_db_count(&F, "SELECT count(*) FROM rooms", NULL);
    log_session s;
    log_open(&s);
    orphan_part(&s, 1);
    orphan_part(&s, 2);
    uint64_t tail = last_seq(&s);
    log_close(&s);

    assert_int_equal(fixture_restart(&F, NULL), 0); /* it starts */
    assert_int_equal(fixture_make_room(&F, F.alice, "after", after), 0); /* and takes changes */
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM rooms", NULL), rooms + 1);
    long applied = fixture_db_count(&F, "SELECT applied_seq FROM log_state", NULL);
    assert_true(applied > (long)tail); /* the parts were passed over, the room's entry applied */
    log_open(&s);
    assert_int_equal((long)last_seq(&s), applied);
    log_close(&s);
}

/* A change made through the log is applied once, restarts included. */
static void every_change_is_applied_once(void **state)
{
    (void)state;
    char room[33];
    assert_int_equal(fixture_make_room(&F, F.alice, "once", room), 0);
    long audit = fixture_db_count(&F, "SELECT count(*) FROM audit_log", NULL);
    long applied = fixture_db_count(&F, "SELECT applied_seq FROM log_state", NULL);
    assert_int_equal(fixture_restart(&F, NULL), 0);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM rooms WHERE id = ?", room), 1);
    assert_int_equal(fixture_db_count(&F, "SELECT count(*) FROM audit_log", NULL), audit);
    assert_int_equal(fixture_db_count(&F, "SELECT applied_seq FROM log_state", NULL), applied);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_dead_writers_parts_at_the_end_stop_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(every_change_is_applied_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
