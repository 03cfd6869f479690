/* test_httpd.c: shared/httpd.c pieces: the token file (roles, errors that
 * name the line but never the token, the permission warning), the bearer
 * check, and listen addresses (IPv4, IPv6 in brackets, host names,
 * loopback detection); a live server: streaming responses (bounded count,
 * done called once each) and ?token= accepted only on the route that asks
 * for it. */
#include "shared/httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define ADMIN "admin-0123456789abcdef"
#define READ "read-0123456789abcdefgh"

static char *write_file(const char *text, mode_t mode)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/vodq-tokens-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    fchmod(fd, mode);
    close(fd);
    return path;
}

static void test_tokens_roles(void **state)
{
    (void)state;
    char *p = write_file("# comment\n\nadmin " ADMIN "\n  read   " READ "  \n", 0600);
    char warn[256];
    struct vodq_err err = {0};
    struct vodq_httpd_tokens *t = vodq_httpd_tokens_load(p, warn, sizeof(warn), &err);
    unlink(p);
    assert_non_null(t);
    assert_string_equal(warn, "");
    assert_int_equal(vodq_httpd_tokens_check(t, "Bearer " ADMIN), VODQ_HTTPD_ADMIN);
    assert_int_equal(vodq_httpd_tokens_check(t, "bearer " READ), VODQ_HTTPD_READ);
    assert_int_equal(vodq_httpd_tokens_check(t, "Bearer " READ "x"), VODQ_HTTPD_NONE);
    assert_int_equal(vodq_httpd_tokens_check(t, "Bearer admin-0123456789abcde"), VODQ_HTTPD_NONE);
    assert_int_equal(vodq_httpd_tokens_check(t, "Bearer admin-0123456789abcdeF"), VODQ_HTTPD_NONE);
    assert_int_equal(vodq_httpd_tokens_check(t, "Basic " ADMIN), VODQ_HTTPD_NONE);
    assert_int_equal(vodq_httpd_tokens_check(t, "Bearer "), VODQ_HTTPD_NONE);
    assert_int_equal(vodq_httpd_tokens_check(t, NULL), VODQ_HTTPD_NONE);
    assert_int_equal(vodq_httpd_tokens_check(NULL, "Bearer " ADMIN), VODQ_HTTPD_NONE);
    vodq_httpd_tokens_free(t);
}

static void test_tokens_world_readable_warns(void **state)
{
    (void)state;
    char *p = write_file("admin " ADMIN "\n", 0644);
    char warn[256];
    struct vodq_err err = {0};
    struct vodq_httpd_tokens *t = vodq_httpd_tokens_load(p, warn, sizeof(warn), &err);
    unlink(p);
    assert_non_null(t);
    assert_non_null(strstr(warn, "readable by other users"));
    assert_null(strstr(warn, ADMIN));
    vodq_httpd_tokens_free(t);
}

/* A bad file fails naming file:line and never the token text. */
static void expect_bad(const char *text, const char *want)
{
    char *p = write_file(text, 0600);
    char warn[256], where[80];
    struct vodq_err err = {0};
    assert_null(vodq_httpd_tokens_load(p, warn, sizeof(warn), &err));
    assert_int_equal(err.code, VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, want));
    assert_null(strstr(err.msg, "s3cr3t"));
    snprintf(where, sizeof(where), "%s", p);
    assert_non_null(strstr(err.msg, where));
    unlink(p);
}

static void test_tokens_bad_files(void **state)
{
    (void)state;
    expect_bad("admin " ADMIN "\nwrite s3cr3t-0123456789abcdef\n", ":2: expected");
    expect_bad("admin s3cr3t\n", ":1: a token must be");
    expect_bad("admin s3cr3t-0123456789abcdef extra\n", ":1: expected");
    expect_bad("# nothing\n", "no tokens");
    struct vodq_err err = {0};
    char warn[64];
    assert_null(vodq_httpd_tokens_load("/nonexistent/tokens", warn, sizeof(warn), &err));
    assert_non_null(strstr(err.msg, "/nonexistent/tokens"));
}

static void test_listen_addresses(void **state)
{
    (void)state;
    struct sockaddr_storage sa;
    socklen_t len;
    bool lo = false;
    struct vodq_err err = {0};
    assert_int_equal(vodq_httpd_listen_parse("127.0.0.1:8080", &sa, &len, &lo, &err), VODQ_OK);
    assert_int_equal(sa.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&sa)->sin_port), 8080);
    assert_true(lo);
    assert_int_equal(vodq_httpd_listen_parse("9140", &sa, &len, &lo, &err), VODQ_OK);
    assert_true(lo);
    assert_int_equal(vodq_httpd_listen_parse("0.0.0.0:8080", &sa, &len, &lo, &err), VODQ_OK);
    assert_false(lo);
    assert_int_equal(vodq_httpd_listen_parse(":8080", &sa, &len, &lo, &err), VODQ_OK);
    assert_false(lo);
    assert_int_equal(vodq_httpd_listen_parse("[::1]:8080", &sa, &len, &lo, &err), VODQ_OK);
    assert_int_equal(sa.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&sa)->sin6_port), 8080);
    assert_true(lo);
    assert_int_equal(vodq_httpd_listen_parse("[::]:8080", &sa, &len, &lo, &err), VODQ_OK);
    assert_false(lo);
    assert_int_equal(vodq_httpd_listen_parse("localhost:8080", &sa, &len, &lo, &err), VODQ_OK);
    assert_true(lo);
    assert_int_equal(vodq_httpd_listen_parse("::1:8080", &sa, &len, &lo, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "brackets"));
    assert_int_equal(vodq_httpd_listen_parse("127.0.0.1:99999", &sa, &len, &lo, &err),
                     VODQ_ERR_INVALID);
    assert_int_equal(vodq_httpd_listen_parse("127.0.0.1:", &sa, &len, &lo, &err), VODQ_ERR_INVALID);
    assert_int_equal(vodq_httpd_listen_parse("[::1]8080", &sa, &len, &lo, &err), VODQ_ERR_INVALID);
    assert_int_equal(vodq_httpd_listen_parse("no-such-host.invalid:80", &sa, &len, &lo, &err),
                     VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "no-such-host.invalid"));
}

static void test_start_refuses_open_non_loopback(void **state)
{
    (void)state;
    struct vodq_httpd_opts o = {.listen = "0.0.0.0:1", .max_body_bytes = 10};
    struct vodq_err err = {0};
    assert_null(vodq_httpd_start(&o, &err));
    assert_int_equal(err.code, VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "--http-token-file"));
    assert_non_null(strstr(err.msg, "--http-insecure"));
}

static void test_json_error_escapes(void **state)
{
    (void)state;
    char *j = vodq_httpd_json_error("bad \"x\"\n\\");
    assert_string_equal(j, "{\"error\":\"bad \\\"x\\\"\\n\\\\\"}");
    free(j);
}

/* ---- a live server ---- */

static atomic_int stream_done_calls;

static long stream_tick(void *cls, char *buf, size_t max)
{
    int *left = cls;
    if (--*left < 0)
        return -1;
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    const char *k = ": keep-alive\n\n";
    size_t n = strlen(k) < max ? strlen(k) : max;
    memcpy(buf, k, n);
    return (long)n;
}

static void stream_done(void *cls)
{
    free(cls);
    atomic_fetch_add(&stream_done_calls, 1);
}

static void h_stream(void *ctx, const struct vodq_httpd_req *req, struct vodq_httpd_resp *resp)
{
    (void)ctx;
    (void)req;
    int *left = malloc(sizeof(*left));
    assert_non_null(left);
    *left = 100; /* about 2 s */
    resp->status = 200;
    resp->type = "text/event-stream";
    resp->stream = stream_tick;
    resp->stream_cls = left;
    resp->stream_done = stream_done;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Sends a GET and reads until the status line is in; returns the open
 * socket and the status in *status. */
static int get(int port, const char *path_query, int *status)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char req[512];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path_query);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    char buf[64] = "";
    size_t got = 0;
    while (got < 12) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    *status = atoi(buf + 9); /* "HTTP/1.1 200" */
    return fd;
}

static void test_streams_and_query_token(void **state)
{
    (void)state;
    char listen[32];
    int port = free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    static const struct vodq_httpd_route routes[] = {
        {"GET", "/s", false, VODQ_HTTPD_READ, h_stream, true},
        {"GET", "/o", false, VODQ_HTTPD_READ, h_stream, false},
    };
    struct vodq_httpd_opts o = {.listen = listen,
                                .token_file = write_file("read " READ "\n", 0600),
                                .max_body_bytes = 10,
                                .max_streams = 2,
                                .routes = routes,
                                .n_routes = 2};
    struct vodq_err err = {0};
    struct vodq_httpd *h = vodq_httpd_start(&o, &err);
    assert_non_null(h);
    unlink(o.token_file);
    int st;
    close(get(port, "/s?token=wrong-0123456789abcdef", &st));
    assert_int_equal(st, 401);
    close(get(port, "/o?token=" READ, &st)); /* only /s takes ?token= */
    assert_int_equal(st, 401);
    int a = get(port, "/s?token=" READ, &st);
    assert_int_equal(st, 200);
    int b = get(port, "/s?token=" READ, &st);
    assert_int_equal(st, 200);
    close(get(port, "/s?token=" READ, &st)); /* a third: over max_streams */
    assert_int_equal(st, 503);
    assert_int_equal(atomic_load(&stream_done_calls), 1); /* the refused one's */
    close(a);
    close(b);
    /* the streams end when their clients go (or after ~2 s by themselves) */
    for (int i = 0; i < 300 && atomic_load(&stream_done_calls) < 3; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&stream_done_calls), 3);
    int c = get(port, "/s?token=" READ, &st);
    assert_int_equal(st, 200);
    close(c);
    vodq_httpd_stop(h);
    assert_int_equal(atomic_load(&stream_done_calls), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_roles),
        cmocka_unit_test(test_tokens_world_readable_warns),
        cmocka_unit_test(test_tokens_bad_files),
        cmocka_unit_test(test_listen_addresses),
        cmocka_unit_test(test_start_refuses_open_non_loopback),
        cmocka_unit_test(test_json_error_escapes),
        cmocka_unit_test(test_streams_and_query_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
