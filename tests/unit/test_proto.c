/* test_proto.c: queue names and key names (every key of queue Q starts
 * with "vodq:{Q}:", the Redis Cluster hash tag), and the embedded Lua
 * scripts (the FUNCTION library and the EVAL texts, byte for byte). */
#include "shared/keys.h"
#include "shared/proto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void expect_bad_name(const char *name, const char *want)
{
    struct vodq_queue q;
    struct vodq_err err = {0};
    enum vodq_rc rc = vodq_queue_init(&q, name, 0, 0, &err);
    if (rc != VODQ_ERR_INVALID || !strstr(err.msg, "queue name") || !strstr(err.msg, want))
        fail_msg("queue name %s: rc %d \"%s\", wanted invalid with \"%s\"",
                 name ? name : "(null)", rc, err.msg, want);
    assert_string_equal(q.prefix, ""); /* nothing half-filled */
}

static void test_queue_names(void **state)
{
    (void)state;
    char n60[61], n61[62];
    memset(n60, 'q', 60);
    n60[60] = '\0';
    memset(n61, 'q', 61);
    n61[61] = '\0';
    const char *good[] = {"default", "a", "Video-HD_1.2", n60};
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        struct vodq_queue q;
        struct vodq_err err = {0};
        if (vodq_queue_init(&q, good[i], 0, 0, &err) != VODQ_OK)
            fail_msg("queue name %s: %s", good[i], err.msg);
        assert_string_equal(q.name, good[i]);
        char want[100];
        snprintf(want, sizeof(want), "vodq:{%s}:", good[i]);
        assert_string_equal(q.prefix, want);
    }
    expect_bad_name("", "1-60 characters");
    expect_bad_name(NULL, "1-60 characters");
    expect_bad_name(n61, "1-60 characters");
    /* characters that would break the hash tag, the key layout or a shell */
    const char *bad[] = {"a}b", "a{b", "a:b", "a b", "a/b", "a*", "\xc3\xa9t\xc3\xa9", "a\nb"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        expect_bad_name(bad[i], "only [A-Za-z0-9_.-] allowed");
}

static void test_queue_limits(void **state)
{
    (void)state;
    struct vodq_queue q;
    assert_int_equal(vodq_queue_init(&q, "q", 0, 0, NULL), VODQ_OK);
    assert_string_equal(q.evmax, "100000");
    assert_string_equal(q.retention, "604800");
    assert_int_equal(vodq_queue_init(&q, "q", -5, -1, NULL), VODQ_OK);
    assert_string_equal(q.evmax, "100000");
    assert_string_equal(q.retention, "604800");
    assert_int_equal(vodq_queue_init(&q, "q", 500, 3600, NULL), VODQ_OK);
    assert_string_equal(q.evmax, "500");
    assert_string_equal(q.retention, "3600");
    assert_int_equal(vodq_queue_init(&q, "q:", 500, 3600, NULL), VODQ_ERR_INVALID);
}

static void test_keys(void **state)
{
    (void)state;
    struct vodq_queue q;
    assert_int_equal(vodq_queue_init(&q, "media", 0, 0, NULL), VODQ_OK);
    char buf[VODQ_KEY_MAX], ref[VODQ_KEY_MAX];
    vodq_queue_key(&q, buf, sizeof(buf), VODQ_KEY_JOB, "j1");
    assert_string_equal(buf, "vodq:{media}:job:j1");
    vodq_queue_key(&q, buf, sizeof(buf), VODQ_KEY_SUBMIT, NULL);
    assert_string_equal(buf, "vodq:{media}:submit");
    vodq_queue_key(&q, buf, sizeof(buf), VODQ_KEY_TASKS, "upload");
    assert_string_equal(buf, "vodq:{media}:tasks:upload");
    vodq_queue_key(&q, buf, sizeof(buf), VODQ_KEY_EVENTS, "");
    assert_string_equal(buf, "vodq:{media}:events");

    /* every key name: the same from keys.h and from the queue, and all
     * share the prefix (one hash slot) */
    const char *suffixes[] = {VODQ_KEY_SUBMIT,   VODQ_KEY_JOB,         VODQ_KEY_SESSION,
                              VODQ_KEY_CKPT,     VODQ_KEY_EVENTS,      VODQ_KEY_EV_CHANNEL,
                              VODQ_KEY_CTL_CHANNEL, VODQ_KEY_DELAYED,  VODQ_KEY_DEAD,
                              VODQ_KEY_WORKERS,  VODQ_KEY_WORKER,      VODQ_KEY_STATS,
                              VODQ_KEY_TASKS};
    size_t n = sizeof(suffixes) / sizeof(*suffixes);
    for (size_t i = 0; i < n; i++) {
        vodq_queue_key(&q, buf, sizeof(buf), suffixes[i], "x1");
        vodq_key(ref, sizeof(ref), "media", suffixes[i], "x1");
        assert_string_equal(buf, ref);
        assert_memory_equal(buf, "vodq:{media}:", 13);
        assert_true(strlen(suffixes[i]) > 0);
        /* distinct suffixes: no two kinds of key can collide */
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(suffixes[k], suffixes[i]);
    }
    /* a small buffer gets a cut, terminated key */
    char small[10];
    vodq_queue_key(&q, small, sizeof(small), VODQ_KEY_JOB, "j1");
    assert_string_equal(small, "vodq:{med");
}

/* Reads shared/lua/<name>.lua next to this source file. */
static char *read_lua(const char *name)
{
    char path[1024];
    const char *src = __FILE__; /* .../tests/unit/test_proto.c */
    const char *cut = strstr(src, "tests/unit/");
    assert_non_null(cut);
    snprintf(path, sizeof(path), "%.*sshared/lua/%s.lua", (int)(cut - src), src, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (int c; (c = fgetc(f)) != EOF;) {
        if (len + 2 > cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        buf[len++] = (char)c;
    }
    fclose(f);
    assert_non_null(buf);
    buf[len] = '\0';
    return buf;
}

static void test_scripts(void **state)
{
    (void)state;
    static const char *names[VODQ_LUA__COUNT] = {
        [VODQ_LUA_SUBMIT] = "submit",       [VODQ_LUA_STEP] = "step",
        [VODQ_LUA_REPORT] = "report",       [VODQ_LUA_HEARTBEAT] = "heartbeat",
        [VODQ_LUA_CONTROL] = "control",     [VODQ_LUA_PROMOTE] = "promote",
        [VODQ_LUA_RECLAIM] = "reclaim",     [VODQ_LUA_REAP] = "reap",
        [VODQ_LUA_CKPT] = "ckpt",           [VODQ_LUA_SESSION] = "session",
        [VODQ_LUA_REMOVE] = "remove",
        [VODQ_LUA_SCHEDULE] = "schedule",   [VODQ_LUA_HOOK] = "hook",
    };
    char *common = read_lua("common");
    size_t cl = strlen(common);
    const char *lib_name = NULL;
    const char *lib = vodq_proto_library(&lib_name);
    assert_non_null(lib);
    assert_int_equal(strncmp(lib_name, "vodq_", 5), 0);
    assert_int_equal(strlen(lib_name), 5 + 16);
    char head[64];
    snprintf(head, sizeof(head), "#!lua name=%s\n", lib_name);
    assert_int_equal(strncmp(lib, head, strlen(head)), 0);
    assert_non_null(strstr(lib, common)); /* common.lua once, whole */
    for (int i = 0; i < VODQ_LUA__COUNT; i++) {
        struct vodq_script *s = vodq_proto_script(i);
        assert_non_null(s);
        assert_string_equal(s->name, names[i]);
        /* the same object every time */
        assert_ptr_equal(vodq_proto_script(i), s);
        assert_ptr_equal(s->library, lib);
        char fn[96];
        snprintf(fn, sizeof(fn), "%s_%s", lib_name, names[i]);
        assert_string_equal(s->fcall, fn);
        char *own = read_lua(names[i]);
        /* in the library: the script's file is the body of its function */
        char *wrapped = malloc(strlen(own) + 128);
        assert_non_null(wrapped);
        sprintf(wrapped, "SCRIPTS[#SCRIPTS + 1] = '%s'\nSCRIPTS[#SCRIPTS + 1] = function()\n%s\nend\n",
                names[i], own);
        assert_non_null(strstr(lib, wrapped));
        free(wrapped);
        /* the EVAL text: common.lua, then the script's file as the body given to run() */
        const char *mid = "\nreturn run(function()\n", *end = "\nend)\n";
        assert_int_equal(strlen(s->body), cl + strlen(mid) + strlen(own) + strlen(end));
        assert_memory_equal(s->body, common, cl);
        assert_memory_equal(s->body + cl, mid, strlen(mid));
        assert_memory_equal(s->body + cl + strlen(mid), own, strlen(own));
        assert_string_equal(s->body + cl + strlen(mid) + strlen(own), end);
        free(own);
    }
    free(common);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_names),
        cmocka_unit_test(test_queue_limits),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_scripts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
