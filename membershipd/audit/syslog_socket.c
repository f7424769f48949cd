#include "membershipd/audit/syslog_socket.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* A daemon slower than this is treated as down: the entry is retried. */
#define SEND_TIMEOUT_S 2
#define DATAGRAM_MAX 9000

struct syslog_socket {
    int fd;
    struct sockaddr_un addr;
};

static int connect_socket(syslog_socket *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct timeval timeout = {SEND_TIMEOUT_S, 0};
    if (s->fd >= 0)
        setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    return s->fd >= 0 && connect(s->fd, (struct sockaddr *)&s->addr, sizeof s->addr) == 0 ? 0 : -1;
}

syslog_socket *syslog_socket_open(const char *path, char *why, size_t whylen)
{
    syslog_socket *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    s->fd = -1;
    s->addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof s->addr.sun_path) {
        snprintf(why, whylen, "syslog socket path %.64s... is longer than %zu bytes: use a shorter path", path,
                 sizeof s->addr.sun_path - 1);
        free(s);
        return NULL;
    }
    memcpy(s->addr.sun_path, path, strlen(path) + 1);
    if (connect_socket(s) != 0) {
        snprintf(why, whylen, "cannot reach syslog at %s: %s; start journald or a syslog daemon, or point "
                 "--audit-syslog-socket at its socket", path, strerror(errno));
        syslog_socket_close(s);
        return NULL;
    }
    return s;
}

static int send_once(syslog_socket *s, const char *buf, size_t len)
{
    ssize_t n;
    do
        n = send(s->fd, buf, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : -1;
}

int syslog_socket_send(syslog_socket *s, int priority, const char *tag, const char *message)
{
    char stamp[32], buf[DATAGRAM_MAX];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
    int len = snprintf(buf, sizeof buf, "<%d>%s %s[%d]: %s", priority, stamp, tag, (int)getpid(), message);
    size_t n = len < 0 ? 0 : (size_t)len < sizeof buf ? (size_t)len : sizeof buf - 1;
    if (send_once(s, buf, n) == 0)
        return 0;
    /* journald or rsyslog restarted: the old socket is gone. */
    if (errno != ECONNREFUSED && errno != ENOTCONN && errno != ENOENT)
        return -1;
    return connect_socket(s) == 0 ? send_once(s, buf, n) : -1;
}

void syslog_socket_close(syslog_socket *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}
