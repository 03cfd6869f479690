/* notify.c: sd_notify over $NOTIFY_SOCKET, without libsystemd. */
#include "shared/notify.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum vodq_rc vodq_notify(const char *state, struct vodq_err *err)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return VODQ_OK;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "NOTIFY_SOCKET: '%s' is not a socket path",
                            path);
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vodq_err_set(err, VODQ_ERR_IO, errno, "notify: socket: %s", strerror(errno));
    ssize_t w = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    int e = errno;
    close(fd);
    if (w < 0)
        return vodq_err_set(err, VODQ_ERR_IO, e, "notify: send to %s: %s", path, strerror(e));
    return VODQ_OK;
}

int64_t vodq_notify_watchdog_usec(void)
{
    const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!us || !*us)
        return 0;
    if (pid && *pid && strtol(pid, NULL, 10) != (long)getpid())
        return 0; /* meant for another process (our parent) */
    char *end;
    long long v = strtoll(us, &end, 10);
    return *end || v <= 0 ? 0 : (int64_t)v;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static atomic_bool ready_sent;
static _Atomic int64_t last_ping_us;

void vodq_notify_tick(void)
{
    if (!atomic_exchange(&ready_sent, true)) {
        vodq_notify("READY=1\nSTATUS=serving", NULL);
        atomic_store(&last_ping_us, mono_us());
        return;
    }
    int64_t period = vodq_notify_watchdog_usec();
    if (period <= 0)
        return;
    int64_t now = mono_us(), last = atomic_load(&last_ping_us);
    if (now - last >= period / 2 && atomic_compare_exchange_strong(&last_ping_us, &last, now))
        vodq_notify("WATCHDOG=1", NULL);
}
