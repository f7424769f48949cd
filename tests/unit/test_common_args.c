/* The command-line flag parser shared by every subcommand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "membershipd/cli/cli.h"

typedef struct {
    const char *db;
    const char *out;
    bool admin;
    cli_args args;
} parsed;

static int parse(parsed *p, int argc, char **argv)
{
    memset(p, 0, sizeof *p);
    const cli_flag flags[] = {
        {"--db", "PATH", &p->db, NULL, "database"},
        {"--out", "FILE", &p->out, NULL, "output"},
        {"--admin", NULL, NULL, &p->admin, "admin"},
        {0},
    };
    const cli_spec spec = {"user add", "NAME PUBKEY", "test", flags, 2, 2};
    return cli_parse(&spec, argc, argv, &p->args);
}

#define ARGV(...) ((char *[]){"add", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"add", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(p, ...) parse(p, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void flags_before_and_after_positionals(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(PARSE(&p, "--admin", "--db", "x.db", "alice", "KEY"), CLI_PROCEED);
    assert_true(p.admin);
    assert_string_equal(p.db, "x.db");
    assert_int_equal(p.args.n, 2);
    assert_string_equal(p.args.v[0], "alice");
    assert_string_equal(p.args.v[1], "KEY");

    assert_int_equal(PARSE(&p, "alice", "--db=y.db", "KEY", "--admin"), CLI_PROCEED);
    assert_true(p.admin);
    assert_string_equal(p.db, "y.db");
    assert_string_equal(p.args.v[1], "KEY");
}

static void double_dash_ends_flags(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(PARSE(&p, "--", "--admin", "KEY"), CLI_PROCEED);
    assert_false(p.admin);
    assert_string_equal(p.args.v[0], "--admin");
}

static void rejects_bad_usage(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(PARSE(&p, "alice", "KEY", "--nope"), EXIT_USAGE);
    assert_int_equal(PARSE(&p, "alice", "KEY", "--db"), EXIT_USAGE);
    assert_int_equal(PARSE(&p, "alice", "KEY", "--db="), EXIT_USAGE);
    assert_int_equal(PARSE(&p, "alice", "KEY", "--db", "a", "--db", "b"), EXIT_USAGE);
    assert_int_equal(PARSE(&p, "alice", "KEY", "--admin", "--admin"), EXIT_USAGE);
    assert_int_equal(PARSE(&p, "alice", "KEY", "--admin=yes"), EXIT_USAGE);
    assert_int_equal(PARSE(&p, "alice"), EXIT_USAGE);
    assert_int_equal(PARSE(&p, "alice", "KEY", "extra"), EXIT_USAGE);
    assert_int_equal(PARSE(&p, "alice", "KEY", "-x"), EXIT_USAGE);
}

static void help_wins_anywhere(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(PARSE(&p, "alice", "--help"), EXIT_OK);
    assert_int_equal(PARSE(&p, "-h"), EXIT_OK);
}

static void a_lone_dash_is_a_positional(void **state)
{
    (void)state;
    parsed p;
    assert_int_equal(PARSE(&p, "-", "KEY"), CLI_PROCEED);
    assert_string_equal(p.args.v[0], "-");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flags_before_and_after_positionals),
        cmocka_unit_test(double_dash_ends_flags),
        cmocka_unit_test(rejects_bad_usage),
        cmocka_unit_test(help_wins_anywhere),
        cmocka_unit_test(a_lone_dash_is_a_positional),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
