/* A secret given to a command: from a file of the user's own or a named
 * environment variable, never from argv (dev/pki.md, "Join tokens"). */
#include "common/cli_args.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_secret_file_read(const char *what, const char *path, char *out, size_t cap, size_t *len, char *why,
                         size_t whylen)
{
    /* O_NONBLOCK: a FIFO in its place must not hang us (it is refused below). */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    int rc = 0;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "cannot read the %s file %s: %s", what, path, fd < 0 ? strerror(errno) : "not a regular file");
        rc = -1;
    } else if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        snprintf(why, whylen, "the %s file %s must be yours alone: it is a secret; run: chown %u %s && chmod 600 %s",
                 what, path, (unsigned)geteuid(), path, path);
        rc = -1;
    }
    ssize_t n = rc == 0 ? read(fd, out, cap - 1) : 0;
    if (fd >= 0)
        close(fd);
    *len = n > 0 ? (size_t)n : 0;
    out[*len] = '\0';
    return rc;
}

static int read_secret_file(const char *what, const char *path, char *out, size_t cap)
{
    char why[4096 + 256];
    size_t len;
    if (cli_secret_file_read(what, path, out, cap, &len, why, sizeof why) == 0)
        return EXIT_OK;
    cli_error("%s", why);
    return EXIT_USAGE;
}

int cli_read_secret(const char *what, const char *file, const char *env, char *out, size_t cap)
{
    if (!file == !env) {
        cli_error("give the %s with --%s-file FILE or --%s-env NAME (never on the command line)", what, what, what);
        return EXIT_USAGE;
    }
    if (file)
        return read_secret_file(what, file, out, cap);
    const char *value = getenv(env);
    if (!value || !value[0]) {
        cli_error("the environment variable %s is not set", env);
        return EXIT_USAGE;
    }
    snprintf(out, cap, "%s", value);
    return EXIT_OK;
}
