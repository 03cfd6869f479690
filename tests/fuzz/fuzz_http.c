/* fuzz_http.c: the scheduler's HTTP request handling (scheduler/http.c and
 * libmicrohttpd's parsing underneath) through its one entry point,
 * vodq_http_start: each input is written as raw bytes to the server's
 * socket (request line, path, query, headers, body), the write side is
 * closed and the answer read. Redis is a real redis-server on a unix
 * socket, started once per process, so that every handler runs. */
#include "scheduler/http.h"
#include "tests/fuzz/fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct vodq_http *server;
static int port;
static pid_t redis_pid;
static char dir[64] = "/tmp/vodq-fuzz-http.XXXXXX";
static char sock[100];
static const struct vodq_job_defaults defaults = {
    .max_attempts = 3, .backoff_base_ms = 100, .backoff_max_ms = 1000, .max_spec_bytes = 65536};

static void stop(void)
{
    vodq_http_stop(server);
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
    unlink(sock);
    rmdir(dir);
}

static bool redis_up(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir))
        abort();
    snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
    redis_pid = fork();
    if (redis_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
               "--appendonly", "no", "--dir", dir, "--maxmemory", "128mb", "--maxmemory-policy",
               "allkeys-lru", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !redis_up(); i++) {
        struct timespec ts = {0, 25000000};
        nanosleep(&ts, NULL);
    }
    /* a free port */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        abort();
    port = ntohs(sa.sin_port);
    close(fd);
    char addr[32], url[160];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    snprintf(url, sizeof(url), "unix://%s", sock);
    struct vodq_err err = {0};
    struct vodq_http_config hc = {
        .listen = addr, .redis_url = url, .queue = "fuzz", .defaults = &defaults};
    server = vodq_http_start(&hc, &err);
    if (!server) {
        fprintf(stderr, "fuzz_http: %s\n", err.msg);
        abort();
    }
    atexit(stop);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0)
        return 0;
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return 0;
    }
    size_t off = 0;
    while (off < size) {
        ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    char buf[4096];
    size_t got = 0;
    char head[16] = "";
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        if (got < sizeof(head) - 1) {
            size_t k = (size_t)n < sizeof(head) - 1 - got ? (size_t)n : sizeof(head) - 1 - got;
            memcpy(head + got, buf, k);
        }
        got += (size_t)n;
    }
    close(fd);
    if (getenv("VODQ_FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz_http: %zu bytes in, %zu out: %.12s\n", size, got, head);
    /* whatever was sent, an answer (if any) is an HTTP status line */
    if (got && strncmp(head, "HTTP/1.", 7) != 0)
        abort();
    return 0;
}
