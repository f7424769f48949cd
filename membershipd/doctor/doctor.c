/* membershipd doctor: runs every check and prints the report. */
#include "membershipd/doctor/doctor.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <nats/nats.h>
#include "embedded/nats_monitor.h"
#include "membershipd/config/datadir.h"


static const char *const VERDICT_NAMES[] = {"ok", "warn", "fail", "skip"};

json_t *doctor_add(doctor *d, const char *id, doctor_verdict verdict, const char *what, const char *fix)
{
    json_t *check = json_pack("{s:s, s:s, s:s, s:s?}", "id", id, "verdict", VERDICT_NAMES[verdict], "what",
                              what, "fix", fix);
    json_array_append_new(d->checks, check);
    return check;
}

json_t *doctor_addf(doctor *d, const char *id, doctor_verdict verdict, const char *fix, const char *fmt, ...)
{
    char what[DOCTOR_WHAT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return doctor_add(d, id, verdict, what, fix);
}

void doctor_connect_host(const char *listen, char out[64])
{
    if (strcmp(listen, "0.0.0.0") == 0)
        listen = "127.0.0.1";
    else if (strcmp(listen, "::") == 0)
        listen = "::1";
    else if (strcmp(listen, "localhost") == 0)
        listen = "127.0.0.1";
    snprintf(out, 64, "%s", listen);
}

int doctor_tcp_connect(const char *host, unsigned port)
{
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, service, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {DOCTOR_PROBE_TIMEOUT_MS / 1000, 0};
    if (fd >= 0) { /* they bound connect() as well as reads and writes */
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int doctor_tcp_answers(const char *host, unsigned port)
{
    int fd = doctor_tcp_connect(host, port);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* What the server on this data dir runs, from the nats.conf it wrote. */
int doctor_read_nats_conf(const doctor *d, char head[DOCTOR_NATS_CONF_HEAD + 1])
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/nats.conf", d->data_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(head, 1, DOCTOR_NATS_CONF_HEAD, f);
    fclose(f);
    head[n] = '\0';
    return 0;
}

static void find_server(doctor *d)
{
    static char head[DOCTOR_NATS_CONF_HEAD + 1];
    if (doctor_read_nats_conf(d, head) != 0)
        return;
    d->nats_conf_read = natsconf_parse_listeners(head, &d->nats) == 0;
    if (!d->nats_conf_read)
        return;
    doctor_connect_host(d->nats.host, d->dataplane_host);
    d->dataplane_answers = doctor_tcp_answers(d->dataplane_host, d->nats.port) == 0;
}

static void locate(doctor *d, const serve_config *cfg)
{
    snprintf(d->data_dir, sizeof d->data_dir, "%s", cli_data_dir_path(&cfg->store));
    if (cfg->store.db)
        snprintf(d->db_path, sizeof d->db_path, "%s", cfg->store.db);
    else
        snprintf(d->db_path, sizeof d->db_path, "%s/membership.db", d->data_dir);
    struct stat st;
    d->data_dir_exists = stat(d->data_dir, &st) == 0 && S_ISDIR(st.st_mode);
    if (d->data_dir_exists)
        find_server(d);
}

static doctor_verdict verdict_of(const json_t *check)
{
    const char *name = json_string_value(json_object_get(check, "verdict"));
    for (int v = DOCTOR_OK; v <= DOCTOR_SKIP; v++)
        if (strcmp(name, VERDICT_NAMES[v]) == 0)
            return (doctor_verdict)v;
    return DOCTOR_FAIL;
}

static void print_lines(const json_t *checks)
{
    size_t i;
    const json_t *check;
    json_array_foreach(checks, i, check) {
        const char *fix = json_string_value(json_object_get(check, "fix"));
        printf("%-4s  %s  %s%s%s\n", json_string_value(json_object_get(check, "verdict")),
               json_string_value(json_object_get(check, "id")), json_string_value(json_object_get(check, "what")),
               fix ? "; " : "", fix ? fix : "");
    }
}

static void print_json(json_t *checks, const unsigned counts[4], doctor_verdict worst)
{
    char now[32];
    cli_format_time(store_now_ms(), now);
    json_t *doc = json_pack("{s:i, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I}, s:O}", "version",
                            DOCTOR_SCHEMA_VERSION, "program", "membershipd", "program_version", UNIBUS_VERSION,
                            "generated_at", now, "verdict", VERDICT_NAMES[worst], "summary", "ok",
                            (json_int_t)counts[DOCTOR_OK], "warn", (json_int_t)counts[DOCTOR_WARN], "fail",
                            (json_int_t)counts[DOCTOR_FAIL], "skip", (json_int_t)counts[DOCTOR_SKIP], "checks",
                            checks);
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(doc);
}

/* Prints the report; the exit code: 1 when any check failed. */
static int report(json_t *checks, bool as_json)
{
    unsigned counts[4] = {0};
    doctor_verdict worst = DOCTOR_OK;
    size_t i;
    const json_t *check;
    json_array_foreach(checks, i, check) {
        doctor_verdict v = verdict_of(check);
        counts[v]++;
        if (v != DOCTOR_SKIP && v > worst)
            worst = v;
    }
    if (as_json)
        print_json(checks, counts, worst);
    else
        print_lines(checks);
    fflush(stdout);
    return worst == DOCTOR_FAIL ? EXIT_FAILED : EXIT_OK;
}

int cmd_doctor(int argc, char **argv)
{
    bool as_json = false;
    doctor d = {0};
    const cli_flag extra[] = {
        {"--json", NULL, NULL, &as_json, "print the report as JSON (schema: dev/doctor.md)"},
        {"--advertise", "NAMES", &d.advertise, NULL, "names clients dial, comma-separated, checked against the certificate"},
        {"--ca", "PATH", &d.ca, NULL, "the CA clients trust (default: the system's trust store)"},
        {0},
    };
    serve_config cfg;
    int rc = serve_config_from_args("doctor",
                                    "Check the posture of a serve configuration and, when a server runs on\n"
                                    "its data dir, of the live server: one line per check (ok, warn, fail,\n"
                                    "skip) with a fix. Exit 0 when nothing fails, 1 otherwise.",
                                    extra, argc, argv, &cfg);
    if (rc != CLI_PROCEED)
        return rc;
    d.cfg = &cfg;
    d.checks = json_array();
    locate(&d, &cfg);
    void (*const sections[])(doctor *) = {
        doctor_guard, doctor_tls, doctor_files, doctor_nats, doctor_store, doctor_pki,
        doctor_dataplane, doctor_controlplane, doctor_cluster,
    };
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        sections[i](&d);
    rc = report(d.checks, as_json);
    json_decref(d.checks);
    nats_monitor_release();
    nats_CloseAndWait(2000); /* the probe's nats.c threads end before OpenSSL cleans up at exit */
    return rc;
}
