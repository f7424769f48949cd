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

static int read_secret_file(const char *what, const char *path, char *out, size_t cap)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    int rc = EXIT_OK;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cli_error("cannot read the %s file %s: %s", what, path, fd < 0 ? strerror(errno) : "not a regular file");
        rc = EXIT_USAGE;
    } else if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        cli_error("the %s file %s must be yours alone: it is a secret; run: chown %u %s && chmod 600 %s", what, path,
                  (unsigned)geteuid(), path, path);
        rc = EXIT_USAGE;
    }
    ssize_t n = rc == EXIT_OK ? read(fd, out, cap - 1) : 0;
    if (fd >= 0)
        close(fd);
    out[n > 0 ? n : 0] = '\0';
    return rc;
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
