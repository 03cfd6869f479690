/* test_redis_url.c: vodq_redis_url_parse: redis://[user:pass@]host:port/db,
 * bare host[:port], IPv6 literals, percent-escapes, and errors that name the
 * bad part without ever showing the password. */
#include "shared/redis.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* A URL and the parts it must parse into. */
struct good {
    const char *url, *host;
    int port;
    const char *user, *password;
    int db;
};

static const struct good good_urls[] = {
    /* host forms */
    {"localhost", "localhost", 6379, "", "", 0},
    {"127.0.0.1:7000", "127.0.0.1", 7000, "", "", 0},
    {"redis://example.com", "example.com", 6379, "", "", 0},
    {"redis://example.com:6380", "example.com", 6380, "", "", 0},
    {"redis://h:1", "h", 1, "", "", 0},
    {"redis://h:65535", "h", 65535, "", "", 0},
    {"redis://10.1.2.3:6379/", "10.1.2.3", 6379, "", "", 0},
    /* credentials */
    {"redis://alice:s3cret@h:7001", "h", 7001, "alice", "s3cret", 0},
    {"redis://:onlypass@h", "h", 6379, "", "onlypass", 0},
    {"redis://bob@h", "h", 6379, "bob", "", 0},
    {"alice:pw@h:9", "h", 9, "alice", "pw", 0},
    /* percent-escapes decoded in user and password */
    {"redis://u%40corp:p%3Aw%2F%25%20x@h", "h", 6379, "u@corp", "p:w/% x", 0},
    {"redis://:%41%62c@h", "h", 6379, "", "Abc", 0},
    /* unescaped '@' and '/' in the password: the last '@' ends it */
    {"redis://u:p@ss@h:2/3", "h", 2, "u", "p@ss", 3},
    {"redis://:a/b@h:1/4", "h", 1, "", "a/b", 4},
    /* a colon in the password after the first */
    {"redis://u:a:b@h", "h", 6379, "u", "a:b", 0},
    /* database */
    {"redis://h/3", "h", 6379, "", "", 3},
    {"redis://h:7000/15", "h", 7000, "", "", 15},
    {"redis://u:p@h:7000/0", "h", 7000, "u", "p", 0},
    {"h:7000/2", "h", 7000, "", "", 2},
    /* IPv6 literals */
    {"[::1]:6390", "::1", 6390, "", "", 0},
    {"redis://[::1]", "::1", 6379, "", "", 0},
    {"redis://[fe80::1:2]:7000/1", "fe80::1:2", 7000, "", "", 1},
    {"redis://user:pw@[::1]:7000/5", "::1", 7000, "user", "pw", 5},
};

static void test_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(good_urls) / sizeof(*good_urls); i++) {
        const struct good *g = &good_urls[i];
        struct vodq_redis_url u;
        struct vodq_err err = {0};
        enum vodq_rc rc = vodq_redis_url_parse(g->url, &u, &err);
        if (rc != VODQ_OK)
            fail_msg("%s: rc %d \"%s\"", g->url, rc, err.msg);
        if (strcmp(u.host, g->host) || u.port != g->port || strcmp(u.user, g->user) ||
            strcmp(u.password, g->password) || u.db != g->db)
            fail_msg("%s: got host \"%s\" port %d user \"%s\" password \"%s\" db %d; wanted "
                     "host \"%s\" port %d user \"%s\" password \"%s\" db %d",
                     g->url, u.host, u.port, u.user, u.password, u.db, g->host, g->port, g->user,
                     g->password, g->db);
    }
}

/* Parses url and expects VODQ_ERR_INVALID with want in the message and no
 * trace of secret (when not NULL) in it. */
static void expect_bad(const char *url, const char *want, const char *secret)
{
    struct vodq_redis_url u;
    struct vodq_err err = {0};
    enum vodq_rc rc = vodq_redis_url_parse(url, &u, &err);
    if (rc != VODQ_ERR_INVALID || err.code != VODQ_ERR_INVALID || !strstr(err.msg, want))
        fail_msg("%s: got rc %d \"%s\"; wanted invalid with \"%s\"", url ? url : "(null)", rc,
                 err.msg, want);
    if (secret && strstr(err.msg, secret))
        fail_msg("%s: the error shows the password: \"%s\"", url, err.msg);
}

static void test_bad_db_ipv6(void **state)
{
    (void)state;
    expect_bad("redis://h/x", "database must be a number", NULL);
    expect_bad("redis://h/1x", "database must be a number", NULL);
    expect_bad("redis://h/-1", "database must be a number", NULL);
    expect_bad("redis://h/100001", "database must be a number", NULL);
    expect_bad("redis://h:1/2/3", "database must be a number", NULL);
    expect_bad("redis://[::1", "unclosed [", NULL);
    expect_bad("redis://[]:1", "bad host", NULL);
    expect_bad("redis://[::1]:0", "port must be 1-65535", NULL);
    /* nothing but ":port" may follow the ']' */
    expect_bad("redis://[::1]x", "redis url", NULL);
}

static void test_bad_port(void **state)
{
    (void)state;
    const char *bad[] = {"h:0",        "h:65536", "h:abc",      "h:",      "h:12x",
                         "h:-1",       "redis://h:99999", "redis://h:80:81", "h: 80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        expect_bad(bad[i], "port must be 1-65535", NULL);
}

static void test_bad(void **state)
{
    (void)state;
    expect_bad("", "redis url: empty", NULL);
    expect_bad(NULL, "redis url: empty", NULL);
    expect_bad("http://h", "scheme must be redis://", NULL);
    expect_bad("unix://tmp/redis.sock", "needs an absolute path", NULL);
    expect_bad("unix:///tmp/redis.sock?x=1", "the only query is ?db=N", NULL);
    expect_bad("unix:///tmp/redis.sock?db=x", "database must be a number", NULL);
    expect_bad("redis+sentinel://h:1,h:2", "master name is missing", NULL);
    expect_bad("redis+sentinel://h:1,h:2/", "master name is missing", NULL);
    expect_bad("redis+sentinel://h:1,,h:2/m", "missing host", NULL);
    expect_bad("redis+sentinel://h:1,h:0/m", "port must be 1-65535", NULL);
    expect_bad("redis+sentinel://h:1/m/x", "database must be a number", NULL);
    expect_bad("redis+sentinel://a,b,c,d,e,f,g,h,i/m", "more than 8 sentinels", NULL);
    expect_bad("redis://", "missing host", NULL);
    expect_bad("redis://:7000", "missing host", NULL);
    expect_bad("redis://u:p@", "missing host", NULL);
    expect_bad("redis://u:p@/2", "missing host", NULL);
    expect_bad("redis://u:%zz@h", "bad password", NULL);
    expect_bad("redis://u:abc%4@h", "bad password", NULL);
    expect_bad("redis://u%g1:p@h", "bad user name", NULL);
    char pw[400];
    int n = snprintf(pw, sizeof(pw), "redis://:");
    memset(pw + n, 'p', 300);
    snprintf(pw + n + 300, sizeof(pw) - (size_t)n - 300, "@h");
    expect_bad(pw, "bad password", NULL);
    /* a host name too long for struct vodq_redis_url: the reason still shows */
    char host[300];
    memset(host, 'a', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    expect_bad(host, "host", NULL);
}

/* rediss://, unix:// and redis+sentinel:// */
static void test_other_schemes(void **state)
{
    (void)state;
    struct vodq_redis_url u;
    struct vodq_err err = {0};
    assert_int_equal(vodq_redis_url_parse("rediss://u:p@h.example:6380/2", &u, &err), VODQ_OK);
    assert_int_equal(u.kind, VODQ_REDIS_TCP);
    assert_true(u.tls);
    assert_string_equal(u.host, "h.example");
    assert_int_equal(u.port, 6380);
    assert_string_equal(u.user, "u");
    assert_int_equal(u.db, 2);
    assert_int_equal(vodq_redis_url_parse("redis://h", &u, &err), VODQ_OK);
    assert_false(u.tls);

    assert_int_equal(vodq_redis_url_parse("unix:///run/redis/redis.sock", &u, &err), VODQ_OK);
    assert_int_equal(u.kind, VODQ_REDIS_UNIX);
    assert_string_equal(u.path, "/run/redis/redis.sock");
    assert_int_equal(u.db, 0);
    assert_int_equal(vodq_redis_url_parse("unix://al%40x:p@w@/tmp/r.sock?db=3", &u, &err),
                     VODQ_OK);
    assert_string_equal(u.path, "/tmp/r.sock");
    assert_string_equal(u.user, "al@x");
    assert_string_equal(u.password, "p@w");
    assert_int_equal(u.db, 3);

    assert_int_equal(vodq_redis_url_parse("redis+sentinel://u:pw@a:26380,[::1]:26381,c/mymaster/4",
                                          &u, &err),
                     VODQ_OK);
    assert_int_equal(u.kind, VODQ_REDIS_SENTINEL);
    assert_false(u.tls);
    assert_int_equal(u.n_sentinels, 3);
    assert_string_equal(u.sentinels[0].host, "a");
    assert_int_equal(u.sentinels[0].port, 26380);
    assert_string_equal(u.sentinels[1].host, "::1");
    assert_int_equal(u.sentinels[1].port, 26381);
    assert_string_equal(u.sentinels[2].host, "c");
    assert_int_equal(u.sentinels[2].port, 26379);
    assert_string_equal(u.master, "mymaster");
    assert_string_equal(u.user, "u");
    assert_string_equal(u.password, "pw");
    assert_int_equal(u.db, 4);
    assert_int_equal(vodq_redis_url_parse("rediss+sentinel://s:1/m", &u, &err), VODQ_OK);
    assert_true(u.tls);
    assert_int_equal(u.n_sentinels, 1);
    assert_string_equal(u.master, "m");
}

/* Credentials never appear in errors (they end up in logs). */
static void test_no_password_in_errors(void **state)
{
    (void)state;
    expect_bad("redis://alice:TOPSECRET@h:99999", "port must be 1-65535", "TOPSECRET");
    expect_bad("redis://:TOPSECRET@h/x", "database must be a number", "TOPSECRET");
    expect_bad("redis://:TOPSECRET@[::1", "unclosed [", "TOPSECRET");
    expect_bad("rediss://:TOPSECRET@h:0", "port must be 1-65535", "TOPSECRET");
    expect_bad("redis+sentinel://u:TOPSECRET@h:1/", "master name", "TOPSECRET");
    expect_bad("unix://u:TOPSECRET@/s?db=x", "database must be a number", "TOPSECRET");
    expect_bad("redis://:TOP%zzSECRET@h", "bad password", "SECRET");
    expect_bad("redis://u:TOPSECRET@", "missing host", "TOPSECRET");
}

/* A failed parse leaves no half-filled credentials behind. */
static void test_reset(void **state)
{
    (void)state;
    struct vodq_redis_url u;
    struct vodq_err err = {0};
    assert_int_equal(vodq_redis_url_parse("redis://u:p@h:7/1", &u, &err), VODQ_OK);
    assert_int_equal(vodq_redis_url_parse("other", &u, &err), VODQ_OK);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    /* err may be NULL */
    assert_int_equal(vodq_redis_url_parse("h:0", &u, NULL), VODQ_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),       cmocka_unit_test(test_bad_db_ipv6),
        cmocka_unit_test(test_bad_port),   cmocka_unit_test(test_bad),
        cmocka_unit_test(test_no_password_in_errors), cmocka_unit_test(test_reset),
        cmocka_unit_test(test_other_schemes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
