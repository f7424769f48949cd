/* unibus_bench [--quick] [--out FILE] [--cases LIST]: dev/bench.md. */
#include <curl/curl.h>
#include <nats/nats.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "bench.h"
#include "busauth/identity.h"
#include "report.h"

static void usage(void)
{
    fprintf(stderr, "usage: unibus_bench [--quick] [--out FILE] [--cases 1,2,3,4,5,6]\n"
                    "  --quick   small counts, to check the program runs (figures mean nothing)\n"
                    "  --out     where the JSON results go (default bench/results.json)\n"
                    "  --cases   which cases to run (4 runs with 3)\n");
    exit(64);
}

static void raise_fd_limit(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

/* Where the fixture finds membershipd, the PKI script and its log dir,
 * unless the caller says otherwise. */
static void default_env(void)
{
    setenv("MEMBERSHIPD", BENCH_MEMBERSHIPD, 0);
    setenv("UNIBUS_MAKE_TEST_PKI", BENCH_MAKE_TEST_PKI, 0);
    mkdir(BENCH_WORK_DIR, 0700);
    setenv("UNIBUS_TEST_LOG_DIR", BENCH_WORK_DIR, 0);
    setenv("TMPDIR", BENCH_WORK_DIR, 0);
}

int main(int argc, char **argv)
{
    bench_opts o = {.duration_s = 2.0, .trials = 100};
    const char *out = "bench/results.json", *cases = "1,2,3,5,6";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            o.quick = true;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--cases") == 0 && i + 1 < argc)
            cases = argv[++i];
        else
            usage();
    }
    if (o.quick) {
        o.duration_s = 0.2;
        o.trials = 3;
    }
    if (sodium_init() < 0 || busauth_init() != BUSAUTH_OK || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "bench: cannot initialise libsodium or libcurl\n");
        return 1;
    }
    raise_fd_limit();
    default_env();
    double started = bench_now();
    if (strchr(cases, '1'))
        case_dataplane(&o);
    if (strchr(cases, '2'))
        case_control(&o);
    if (strchr(cases, '3') || strchr(cases, '4'))
        case_propagation(&o);
    if (strchr(cases, '5'))
        case_abuse(&o);
    if (strchr(cases, '6'))
        case_cluster(&o);
    double elapsed = bench_now() - started;
    printf("\n");
    report_print_table(stdout);
    printf("elapsed %.0f s; results in %s\n", elapsed, out);
    int rc = report_write_json(out, o.quick, elapsed);
    nats_CloseAndWait(0);
    curl_global_cleanup();
    return rc == 0 ? 0 : 1;
}
