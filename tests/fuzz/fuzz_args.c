/*
 * Flag and configuration parsing: the input split at NUL bytes into argv
 * for the flag parser (cli_parse, with switches, values and positionals)
 * and for `membershipd serve`'s whole configuration
 * (serve_config_from_args: its real flag table, then the values).
 */
#include <string.h>
#include "fuzz.h"
#include "membershipd/config/serve_config.h"

#define MAX_ARGV 24

static bool from_argv(const char *value, char **argv, int argc)
{
    for (int i = 0; i < argc; i++)
        if (value >= argv[i] && value <= argv[i] + strlen(argv[i]))
            return true;
    return false;
}

static void parse_generic(int argc, char **argv)
{
    const char *db = NULL, *name = NULL;
    bool admin = false;
    const cli_flag flags[] = {
        {"--db", "PATH", &db, NULL, "database"},
        {"--name", "NAME", &name, NULL, "name"},
        {"--admin", NULL, NULL, &admin, "admin"},
        {0},
    };
    const cli_spec spec = {"user add", "NAME PUBKEY", "adds", flags, 1, 2};
    cli_args args = {0};
    int rc = cli_parse(&spec, argc, argv, &args);
    FUZZ_CHECK(rc == CLI_PROCEED || rc == EXIT_OK || rc == EXIT_USAGE);
    if (rc != CLI_PROCEED)
        return;
    FUZZ_CHECK(args.n >= spec.min_args && args.n <= spec.max_args);
    for (size_t i = 0; i < args.n; i++)
        FUZZ_CHECK(from_argv(args.v[i], argv, argc));
    FUZZ_CHECK((!db || (db[0] && from_argv(db, argv, argc))) && (!name || (name[0] && from_argv(name, argv, argc))));
}

static void parse_serve(int argc, char **argv)
{
    serve_config cfg;
    int rc = serve_config_from_args("serve", "runs", NULL, argc, argv, &cfg);
    FUZZ_CHECK(rc == CLI_PROCEED || rc == EXIT_OK || rc == EXIT_USAGE);
    if (rc != CLI_PROCEED)
        return;
    FUZZ_CHECK(cfg.http_port <= 65535 && cfg.nats_port <= 65535 && cfg.bind_addr_len > 0);
    FUZZ_CHECK(cfg.tls_min == 12 || cfg.tls_min == 13);
    FUZZ_CHECK(cfg.rate >= 0.01 && cfg.rate <= 1e6 && cfg.burst >= 1 && cfg.max_conns >= 1);
    FUZZ_CHECK(cfg.max_msg_bytes >= 1024 && cfg.max_msg_bytes <= 64 * 1024 * 1024);
    FUZZ_CHECK(cfg.bus_auth == BUS_AUTH_ENFORCE || cfg.bus_auth == BUS_AUTH_SOFT || cfg.bus_auth == BUS_AUTH_OFF);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *fields[MAX_ARGV];
    size_t last_len;
    int n = (int)fuzz_split(data, size, '\0', fields + 1, MAX_ARGV - 2, &last_len);
    fields[0] = strdup("membershipd");
    fields[n + 1] = NULL;
    parse_generic(n + 1, fields);
    parse_serve(n + 1, fields);
    fuzz_fields_free(fields, (size_t)n + 1);
    return 0;
}
