/* Settings for the unibus CLI: flags, then environment, then the config file. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"

int peer_config_path(const char *name, char out[PATH_MAX])
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char dir[PATH_MAX];
    if (xdg && xdg[0])
        snprintf(dir, sizeof dir, "%s/unibus", xdg);
    else if (home && home[0])
        snprintf(dir, sizeof dir, "%s/.config/unibus", home);
    else
        return -1;
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%.*s", (int)(strrchr(dir, '/') - dir), dir);
    mkdir(parent, 0700);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -1;
    return snprintf(out, PATH_MAX, "%s/%s", dir, name) < PATH_MAX ? 0 : -1;
}

/* The value of "key=" in the config file, copied into out; "" if none. */
static void config_value(const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    char path[PATH_MAX], line[PATH_MAX + 64];
    if (peer_config_path("config", path) != 0)
        return;
    FILE *f = fopen(path, "r");
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, key, klen) == 0 && line[klen] == '=')
            snprintf(out, cap, "%s", line + klen + 1);
    }
    if (f)
        fclose(f);
}

static const char *pick(const char *flag, const char *env, const char *key, char *buf, size_t cap)
{
    const char *e = env ? getenv(env) : NULL;
    if (flag)
        return flag;
    if (e && e[0])
        return e;
    config_value(key, buf, cap);
    return buf[0] ? buf : NULL;
}

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

void peer_stop(void)
{
    stopping = 1;
}

void peer_run_until_signal(unibus_subscription *sub)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stopping)
        usleep(50 * 1000);
    unibus_subscription_close(sub);
}

int peer_fail(unibus_client *c, unibus_status status)
{
    cli_error("%s", c && unibus_client_error(c)[0] ? unibus_client_error(c) : unibus_strerror(status));
    return status == UNIBUS_ERR_INVALID_ARG || status == UNIBUS_ERR_CONFIG ? EXIT_USAGE : EXIT_FAILED;
}

const char *peer_identity_path(const peer_flags *flags, char out[PATH_MAX])
{
    const char *path = pick(flags->identity, "UNIBUS_IDENTITY", "identity", out, PATH_MAX);
    if (path && path != out)
        snprintf(out, PATH_MAX, "%s", path);
    if (path)
        return out;
    return peer_config_path("identity.seed", out) == 0 ? out : NULL;
}

/* UNIBUS_RETRY_SECONDS or retry_seconds=: 1 to 3600, or unset (the default). */
static int retry_seconds(const char *text, unsigned *out)
{
    char *end = NULL;
    unsigned long v = text ? strtoul(text, &end, 10) : 0;
    if (text && (!isdigit((unsigned char)text[0]) || *end || v < 1 || v > 3600)) {
        cli_error("retry seconds \"%s\" (UNIBUS_RETRY_SECONDS or retry_seconds=): give a whole number from 1 to "
                  "3600", text);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

int peer_open(const peer_flags *flags, unibus_client **out)
{
    static char url[PATH_MAX], ca[PATH_MAX], identity[PATH_MAX], server_key[64], known[PATH_MAX], replay[PATH_MAX],
        retry[32];
    unibus_config cfg = {
        .url = pick(flags->url, "UNIBUS_URL", "url", url, sizeof url),
        .ca_file = pick(flags->ca, "UNIBUS_CA", "ca", ca, sizeof ca),
        .identity_file = peer_identity_path(flags, identity),
        .server_key = pick(flags->server_key, NULL, "server_key", server_key, sizeof server_key),
        .known_servers = peer_config_path("known_servers", known) == 0 ? known : NULL,
        .replay_file = pick(NULL, "UNIBUS_REPLAY_FILE", "replay_file", replay, sizeof replay),
    };
    if (!cfg.url) {
        cli_error("no control plane URL: give --url, set UNIBUS_URL, or put url= in ~/.config/unibus/config");
        return EXIT_USAGE;
    }
    const char *retry_text = pick(NULL, "UNIBUS_RETRY_SECONDS", "retry_seconds", retry, sizeof retry);
    if (retry_seconds(retry_text, &cfg.retry_seconds) != 0)
        return EXIT_USAGE;
    unibus_status s = unibus_client_open(&cfg, out);
    if (s != UNIBUS_OK) {
        int rc = peer_fail(*out, s);
        unibus_client_close(*out);
        *out = NULL;
        return rc;
    }
    if (unibus_client_first_use(*out))
        fprintf(stderr, "unibus: trusting server key %s for %s on first use (recorded in %s)\n",
                unibus_client_server_key(*out), unibus_client_url(*out), known);
    return EXIT_OK;
}

int peer_start(const cli_spec *spec, int argc, char **argv, cli_args *args, const peer_flags *p,
               unibus_client **c)
{
    int rc = cli_parse(spec, argc, argv, args);
    if (rc != CLI_PROCEED)
        return rc;
    rc = peer_open(p, c);
    return rc == EXIT_OK ? CLI_PROCEED : rc;
}
