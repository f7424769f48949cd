/*
 * The replay record (client/replay_store.c) in real files and real
 * processes: a message is taken once per session sequence, only inside
 * the window; what one process took, every later process of the identity
 * drops; processes appending and rewriting the file at once lose nothing;
 * the file is refused where someone else could change it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>
#include "replay_store.h"
#include "testutil.h"

#define NOW 1800000000000LL
#define CHILDREN 4
#define PER_CHILD 8000

static char DIR_[PATH_MAX], PATH_[PATH_MAX + 16];

static int setup(void **state)
{
    (void)state;
    test_make_temp_dir(DIR_);
    snprintf(PATH_, sizeof PATH_, "%s/id.replay", DIR_);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_remove_tree(DIR_);
    return 0;
}

static replay_store *open_at(int64_t now)
{
    replay_store *s = NULL;
    char why[512] = "";
    unibus_status st = replay_store_open(PATH_, now, &s, why, sizeof why);
    if (st != UNIBUS_OK)
        fprintf(stderr, "%s\n", why);
    assert_int_equal(st, UNIBUS_OK);
    return s;
}

/* Sender n's session (both derived from n, so any process can name them),
 * as a message of a room and kind. */
static unibus_status admit_in(replay_store *s, uint8_t room, uint8_t kind, uint32_t n, uint64_t seq, int64_t time,
                              int64_t now)
{
    replay_key key = {.room = {room}, .kind = kind};
    memcpy(key.sender, &n, sizeof n);
    memcpy(key.session, &n, sizeof n);
    key.session[15] = 0x5a;
    return replay_store_admit(s, &key, seq, (uint64_t)time, now);
}

static unibus_status admit(replay_store *s, uint32_t n, uint64_t seq, int64_t time, int64_t now)
{
    return admit_in(s, 0, 0, n, seq, time, now);
}

static void a_sequence_is_taken_once(void **state)
{
    (void)state;
    replay_store *s = open_at(NOW);
    assert_int_equal(admit(s, 1, 5, NOW, NOW), UNIBUS_OK);
    assert_int_equal(admit(s, 1, 5, NOW, NOW), UNIBUS_ERR_REPLAY);
    assert_int_equal(admit(s, 1, 4, NOW, NOW), UNIBUS_ERR_REPLAY);
    assert_int_equal(admit(s, 1, 6, NOW, NOW), UNIBUS_OK);
    assert_int_equal(admit(s, 2, 5, NOW, NOW), UNIBUS_OK); /* another session */
    replay_store_close(s);
}

static void only_the_window_is_taken(void **state)
{
    (void)state;
    replay_store *s = open_at(NOW);
    assert_int_equal(admit(s, 1, 1, NOW - REPLAY_WINDOW_MS - 1, NOW), UNIBUS_ERR_STALE);
    assert_int_equal(admit(s, 1, 2, NOW - REPLAY_WINDOW_MS, NOW), UNIBUS_OK);
    assert_int_equal(admit(s, 1, 3, NOW + REPLAY_SKEW_MS + 1, NOW), UNIBUS_ERR_STALE);
    assert_int_equal(admit(s, 1, 4, NOW + REPLAY_SKEW_MS, NOW), UNIBUS_OK);
    replay_store_close(s);
}

/* A process that died without closing, 50 ms after it took a message:
 * its writer had written the record, and the next process knows. */
static void a_later_process_drops_what_an_earlier_one_took(void **state)
{
    (void)state;
    pid_t child = fork();
    if (child == 0) {
        replay_store *s = open_at(NOW);
        int bad = admit(s, 7, 9, NOW, NOW) != UNIBUS_OK;
        usleep(50 * 1000);
        _exit(bad);
    }
    int status = 0;
    waitpid(child, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    replay_store *s = open_at(NOW + 1000);
    assert_int_equal(admit(s, 7, 9, NOW, NOW + 1000), UNIBUS_ERR_REPLAY);
    assert_int_equal(admit(s, 7, 10, NOW + 1000, NOW + 1000), UNIBUS_OK);
    replay_store_close(s);
    assert_int_equal(test_file_mode(PATH_), 0600);
}

/* Two processes running at once each take a message they both receive
 * live: a process takes in the others' records when it opens, not after. */
static void two_live_processes_each_take_a_live_message(void **state)
{
    (void)state;
    replay_store *a = open_at(NOW), *b = open_at(NOW);
    assert_int_equal(admit(a, 3, 1, NOW, NOW), UNIBUS_OK);
    replay_store_close(a); /* written */
    assert_int_equal(admit(b, 3, 1, NOW, NOW), UNIBUS_OK);
    replay_store_close(b);
}

static off_t file_size(void)
{
    struct stat st;
    return stat(PATH_, &st) == 0 ? st.st_size : -1;
}

/* Only the window's worth is kept: at the next open, what left it is gone. */
static void the_file_holds_only_the_window(void **state)
{
    (void)state;
    replay_store *s = open_at(NOW);
    for (uint32_t n = 0; n < 1000; n++)
        assert_int_equal(admit(s, n, 1, NOW, NOW), UNIBUS_OK);
    replay_store_close(s);
    off_t full = file_size();
    assert_true(full >= 1000 * 64);
    s = open_at(NOW + REPLAY_WINDOW_MS + 1);
    replay_store_close(s);
    assert_true(file_size() < 64);
}

/* Opens, appends 400 sessions, closes, twenty times over: every open
 * rewrites the file while the other processes append. */
static int child_appends(uint32_t first, int start_gate)
{
    char go;
    if (read(start_gate, &go, 1) != 0)
        return 1;
    int bad = 0;
    for (uint32_t n = first; n < first + PER_CHILD && !bad; n += 400) {
        replay_store *s = NULL;
        char why[512];
        if (replay_store_open(PATH_, NOW, &s, why, sizeof why) != UNIBUS_OK)
            return 1;
        for (uint32_t k = n; k < n + 400; k++)
            bad += admit_in(s, k % 8, 0, k, 1, NOW, NOW) != UNIBUS_OK; /* under a room's share */
        replay_store_close(s);
    }
    return bad != 0;
}

/* Four processes, started at once, append 8,000 sessions each while the
 * others rewrite the file: a process opened afterwards knows all 32,000. */
static void processes_writing_at_once_lose_nothing(void **state)
{
    (void)state;
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    pid_t kids[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            close(gate[1]);
            _exit(child_appends((uint32_t)i * PER_CHILD, gate[0]));
        }
    }
    close(gate[0]);
    close(gate[1]); /* go */
    for (int i = 0; i < CHILDREN; i++) {
        int status = 0;
        waitpid(kids[i], &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    replay_store *s = open_at(NOW + 1);
    int missed = 0;
    for (uint32_t n = 0; n < CHILDREN * PER_CHILD; n++)
        missed += admit_in(s, n % 8, 0, n, 1, NOW, NOW + 1) != UNIBUS_ERR_REPLAY;
    assert_int_equal(missed, 0);
    replay_store_close(s);
}

/* A flood of fresh sessions fills the record: the next new session is
 * refused rather than an old one forgotten (which would reopen its
 * replays); once the flood leaves the window, new sessions are taken. */
static void a_full_record_refuses_new_sessions_and_forgets_none(void **state)
{
    (void)state;
    replay_store *s = open_at(NOW);
    for (uint32_t n = 0; n < REPLAY_MAX_SESSIONS; n++)
        assert_int_equal(admit_in(s, n % 16, 0, n, 1, NOW, NOW), UNIBUS_OK);
    assert_int_equal(admit_in(s, 16, 0, REPLAY_MAX_SESSIONS, 1, NOW, NOW), UNIBUS_ERR_RATE_LIMITED);
    assert_int_equal(admit_in(s, 0, 0, 0, 1, NOW, NOW), UNIBUS_ERR_REPLAY); /* the first is still known */
    assert_int_equal(admit_in(s, 0, 0, 0, 2, NOW, NOW), UNIBUS_OK);          /* known sessions go on */
    int64_t later = NOW + REPLAY_WINDOW_MS + 1;
    assert_int_equal(admit_in(s, 16, 0, REPLAY_MAX_SESSIONS, 1, later, later), UNIBUS_OK);
    replay_store_close(s);
}

static unibus_status try_open(void)
{
    replay_store *s = NULL;
    char why[512] = "";
    unibus_status st = replay_store_open(PATH_, NOW, &s, why, sizeof why);
    replay_store_close(s);
    if (st != UNIBUS_OK)
        assert_null(strchr(why, '\n')); /* one line */
    return st;
}

static void a_file_others_could_change_is_refused(void **state)
{
    (void)state;
    test_write_file(PATH_, "", 0644);
    assert_int_equal(try_open(), UNIBUS_ERR_CONFIG);
    chmod(PATH_, 0600);
    assert_int_equal(try_open(), UNIBUS_OK);
    chmod(DIR_, 0777);
    assert_int_equal(try_open(), UNIBUS_ERR_CONFIG);
    chmod(DIR_, 0700);
    unlink(PATH_);
    char target[PATH_MAX + 16];
    snprintf(target, sizeof target, "%s/elsewhere", DIR_);
    test_write_file(target, "", 0600);
    assert_int_equal(symlink(target, PATH_), 0);
    assert_int_equal(try_open(), UNIBUS_ERR_CONFIG);
    unlink(PATH_);
    test_write_file(PATH_, "not a replay record at all", 0600);
    assert_int_equal(try_open(), UNIBUS_ERR_CONFIG);
}

/* Issue 11, finding 6: whoever owns the record may have written it; the
 * refusal names the chown fix.  Giving a file away needs root. */
static void a_file_another_user_owns_is_refused_naming_chown(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    test_write_file(PATH_, "", 0600);
    assert_int_equal(chown(PATH_, 65534, (gid_t)-1), 0);
    replay_store *s = NULL;
    char why[512] = "", fix[PATH_MAX + 32];
    assert_int_equal(replay_store_open(PATH_, NOW, &s, why, sizeof why), UNIBUS_ERR_CONFIG);
    assert_null(s);
    snprintf(fix, sizeof fix, "chown 0 %s", PATH_);
    assert_non_null(strstr(why, fix));
    assert_non_null(strstr(why, "owned by uid 65534"));
}

/* A crash mid-append leaves part of a record, one mid-rewrite a partial
 * new file beside the record: the whole records still count. */
static void what_a_crash_leaves_is_harmless(void **state)
{
    (void)state;
    replay_store *s = open_at(NOW);
    assert_int_equal(admit(s, 1, 1, NOW, NOW), UNIBUS_OK);
    replay_store_close(s);
    FILE *f = fopen(PATH_, "ab");
    fwrite("torn", 1, 4, f);
    fclose(f);
    char next[PATH_MAX + 32];
    snprintf(next, sizeof next, "%s.new", PATH_);
    test_write_file(next, "unibus-replay-2\npart of a rewr", 0600);
    s = open_at(NOW);
    assert_int_equal(admit(s, 1, 1, NOW, NOW), UNIBUS_ERR_REPLAY);
    assert_int_equal(admit(s, 2, 1, NOW, NOW), UNIBUS_OK);
    replay_store_close(s);
    assert_int_equal((file_size() - 16) % 113, 0);
    assert_int_not_equal(access(next, F_OK), 0); /* replaced, then renamed over the record */
}

/* An entry judges only its own room, kind and request (finding A: a
 * forgery in one room made every later message of that sender's session
 * a REPLAY in every other room). */
static void an_entry_judges_only_its_room_kind_and_request(void **state)
{
    (void)state;
    replay_store *s = open_at(NOW);
    assert_int_equal(admit_in(s, 1, 0, 7, UINT64_MAX, NOW + REPLAY_SKEW_MS, NOW), UNIBUS_OK);
    assert_int_equal(admit_in(s, 1, 0, 7, 1, NOW, NOW), UNIBUS_ERR_REPLAY);
    assert_int_equal(admit_in(s, 2, 0, 7, 1, NOW, NOW), UNIBUS_OK); /* another room */
    assert_int_equal(admit_in(s, 1, 1, 7, 1, NOW, NOW), UNIBUS_OK); /* a request in the same room */
    replay_key reply = {.room = {1}, .kind = 2, .answers = {9}};
    memcpy(reply.sender, &(uint32_t){7}, 4);
    assert_int_equal(replay_store_admit(s, &reply, 5, NOW, NOW), UNIBUS_OK);
    assert_int_equal(replay_store_admit(s, &reply, 5, NOW, NOW), UNIBUS_ERR_REPLAY);
    reply.answers[0] = 10; /* the answer to another request */
    assert_int_equal(replay_store_admit(s, &reply, 5, NOW, NOW), UNIBUS_OK);
    replay_store_close(s);
    s = open_at(NOW + 1); /* and so in a later process */
    assert_int_equal(admit_in(s, 1, 0, 7, 2, NOW + 1, NOW + 1), UNIBUS_ERR_REPLAY);
    assert_int_equal(admit_in(s, 3, 0, 7, 2, NOW + 1, NOW + 1), UNIBUS_OK);
    replay_store_close(s);
}

/* An entry whose newest time left the window is no longer compared
 * against (the old lookup returned it: a sequence 2^64-1 forged 5 s ahead
 * silenced the session for good). */
static void an_expired_entry_is_absent(void **state)
{
    (void)state;
    replay_store *s = open_at(NOW);
    assert_int_equal(admit(s, 1, UINT64_MAX, NOW + REPLAY_SKEW_MS, NOW), UNIBUS_OK);
    int64_t later = NOW + REPLAY_SKEW_MS + REPLAY_WINDOW_MS + 1;
    assert_int_equal(admit(s, 1, 3, later, later), UNIBUS_OK);
    assert_int_equal(admit(s, 1, 3, later, later), UNIBUS_ERR_REPLAY);
    replay_store_close(s);
}

/* The members of one room fill at most its share of the record: the
 * sessions of another room are still taken (finding D). */
static void one_room_cannot_fill_the_record_for_others(void **state)
{
    (void)state;
    replay_store *s = open_at(NOW);
    for (uint32_t n = 0; n < REPLAY_ROOM_MAX_SESSIONS; n++)
        assert_int_equal(admit_in(s, 1, 0, n, 1, NOW, NOW), UNIBUS_OK);
    assert_int_equal(admit_in(s, 1, 0, REPLAY_ROOM_MAX_SESSIONS, 1, NOW, NOW), UNIBUS_ERR_RATE_LIMITED);
    assert_int_equal(admit_in(s, 1, 0, 0, 2, NOW, NOW), UNIBUS_OK); /* its known sessions go on */
    assert_int_equal(admit_in(s, 2, 0, 0, 1, NOW, NOW), UNIBUS_OK);
    int64_t later = NOW + REPLAY_WINDOW_MS + 1;
    assert_int_equal(admit_in(s, 1, 0, REPLAY_ROOM_MAX_SESSIONS, 1, later, later), UNIBUS_OK);
    replay_store_close(s);
}

/* A room its members keep full (one entry expiring each millisecond) is
 * rescanned, and the table rebuilt, at most once a second, not at each
 * expiry: the room's new sessions wait for the next scan. */
static void a_full_room_is_rescanned_at_most_once_a_second(void **state)
{
    (void)state;
    replay_store *s = open_at(NOW);
    for (uint32_t n = 0; n < REPLAY_ROOM_MAX_SESSIONS; n++)
        assert_int_equal(admit_in(s, 1, 0, n, 1, NOW - REPLAY_WINDOW_MS + n, NOW), UNIBUS_OK);
    int taken = 0;
    for (uint32_t k = 1; k <= 1000; k++) /* each millisecond, one entry leaves the window */
        taken += admit_in(s, 1, 0, REPLAY_ROOM_MAX_SESSIONS + k, 1, NOW + k, NOW + k) == UNIBUS_OK;
    assert_in_range(taken, 1, 2); /* a scan (and the table's growth); without the floor, 1,000 scans */
    assert_int_equal(admit_in(s, 1, 0, 0, 1, NOW + 2100, NOW + 2100), UNIBUS_OK);
    replay_store_close(s);
}

/* A version 1 record names no room or kind: it is ignored and rewritten. */
static void a_version_1_record_is_replaced(void **state)
{
    (void)state;
    uint8_t old[16 + 64] = "unibus-replay-1\n"; /* and one record of zeros */
    test_write_file(PATH_, "", 0600);
    FILE *f = fopen(PATH_, "wb");
    fwrite(old, 1, sizeof old, f);
    fclose(f);
    replay_store *s = open_at(NOW);
    assert_int_equal(admit(s, 0, 1, NOW, NOW), UNIBUS_OK);
    replay_store_close(s);
    char magic[17] = "";
    f = fopen(PATH_, "rb");
    assert_int_equal(fread(magic, 1, 16, f), 16);
    fclose(f);
    assert_string_equal(magic, "unibus-replay-2\n");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_sequence_is_taken_once),
        T(only_the_window_is_taken),
        T(a_later_process_drops_what_an_earlier_one_took),
        T(two_live_processes_each_take_a_live_message),
        T(the_file_holds_only_the_window),
        T(processes_writing_at_once_lose_nothing),
        T(a_full_record_refuses_new_sessions_and_forgets_none),
        T(a_file_others_could_change_is_refused),
        T(a_file_another_user_owns_is_refused_naming_chown),
        T(what_a_crash_leaves_is_harmless),
        T(an_entry_judges_only_its_room_kind_and_request),
        T(an_expired_entry_is_absent),
        T(one_room_cannot_fill_the_record_for_others),
        T(a_version_1_record_is_replaced),
        T(a_full_room_is_rescanned_at_most_once_a_second),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
