/* test_config.c: the table-driven config loader: defaults, then the file,
 * then the environment, then flags; flag forms, positional arguments,
 * --help, and errors that name the option and where the value came from. */
#include "shared/config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char *redis_url, *name;
static long long slots, lease_ms;
static bool verbose, metrics;

static const struct vodq_opt opts[] = {
    {"redis", "VODQ_TEST_REDIS", VODQ_OPT_STR, "redis://127.0.0.1:6379", "Redis URL", &redis_url,
     0, 0},
    {"slots", "VODQ_TEST_SLOTS", VODQ_OPT_INT, "4", "task slots", &slots, 1, 64},
    {"lease-ms", NULL, VODQ_OPT_INT, NULL, "lease in ms", &lease_ms, 0, 0},
    {"verbose", "VODQ_TEST_VERBOSE", VODQ_OPT_BOOL, NULL, "log more", &verbose, 0, 0},
    {"metrics", NULL, VODQ_OPT_BOOL, "true", "serve metrics", &metrics, 0, 0},
    {"name", NULL, VODQ_OPT_STR, NULL, "instance name", &name, 0, 0},
};
#define NOPTS ((int)(sizeof(opts) / sizeof(*opts)))

static char cfg_path[64];

static int setup(void **state)
{
    (void)state;
    unsetenv("VODQ_CONFIG");
    unsetenv("VODQ_TEST_REDIS");
    unsetenv("VODQ_TEST_SLOTS");
    unsetenv("VODQ_TEST_VERBOSE");
    cfg_path[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vodq_config_free(opts, NOPTS);
    if (cfg_path[0])
        unlink(cfg_path);
    return 0;
}

/* Writes text to a new temporary file, named in cfg_path. */
static const char *write_cfg(const char *text)
{
    snprintf(cfg_path, sizeof(cfg_path), "/tmp/vodq-test-config-XXXXXX");
    int fd = mkstemp(cfg_path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return cfg_path;
}

struct args {
    char *v[32];
    int c;
    int npos;
    bool help;
    struct vodq_err err;
};

/* Runs vodq_config_load on "prog" + the NULL-terminated list. */
static enum vodq_rc load(struct args *a, ...)
{
    memset(a, 0, sizeof(*a));
    a->v[a->c++] = "prog";
    va_list ap;
    va_start(ap, a);
    for (char *s; (s = va_arg(ap, char *)) != NULL;)
        a->v[a->c++] = s;
    va_end(ap);
    a->npos = -1;
    return vodq_config_load(opts, NOPTS, a->c, a->v, &a->npos, &a->help, &a->err);
}

/* Expects VODQ_ERR_INVALID with a message containing want. */
static void expect_invalid(enum vodq_rc rc, const struct args *a, const char *want)
{
    if (rc != VODQ_ERR_INVALID || a->err.code != VODQ_ERR_INVALID || !strstr(a->err.msg, want))
        fail_msg("got rc %d \"%s\", wanted invalid with \"%s\"", rc, a->err.msg, want);
}

static void test_defaults(void **state)
{
    (void)state;
    struct args a;
    assert_int_equal(load(&a, NULL), VODQ_OK);
    assert_string_equal(redis_url, "redis://127.0.0.1:6379");
    assert_int_equal(slots, 4);
    assert_int_equal(lease_ms, 0);
    assert_false(verbose);
    assert_true(metrics);
    assert_non_null(name);
    assert_string_equal(name, "");
    assert_int_equal(a.npos, 0);
    assert_false(a.help);
    vodq_config_free(opts, NOPTS);
    assert_null(redis_url);
    assert_null(name);
}

static void test_file(void **state)
{
    (void)state;
    const char *path = write_cfg("# vodq worker\n"
                                 "\n"
                                 "redis = redis://10.0.0.1:7000/2\n"
                                 "  slots=8   # per type\n"
                                 "verbose = yes\n"
                                 "metrics = off\n"
                                 "name =  worker one  \n"
                                 "lease-ms = 30000\n");
    struct args a;
    char flag[128];
    snprintf(flag, sizeof(flag), "--config=%s", path);
    assert_int_equal(load(&a, flag, NULL), VODQ_OK);
    assert_string_equal(redis_url, "redis://10.0.0.1:7000/2");
    assert_int_equal(slots, 8);
    assert_int_equal(lease_ms, 30000);
    assert_true(verbose);
    assert_false(metrics);
    assert_string_equal(name, "worker one");
    assert_int_equal(a.npos, 0);

    /* --config FILE, and $VODQ_CONFIG */
    assert_int_equal(load(&a, "--config", (char *)path, NULL), VODQ_OK);
    assert_int_equal(slots, 8);
    assert_int_equal(a.npos, 0);
    setenv("VODQ_CONFIG", path, 1);
    assert_int_equal(load(&a, NULL), VODQ_OK);
    assert_int_equal(slots, 8);
    assert_string_equal(name, "worker one");
    /* --config wins over $VODQ_CONFIG */
    setenv("VODQ_CONFIG", "/nonexistent/vodq.conf", 1);
    assert_int_equal(load(&a, "--config", (char *)path, NULL), VODQ_OK);
    assert_int_equal(slots, 8);
}

/* One file for every program: [vodq] is shared (unknown names skipped),
 * the program's own section ([prog] here, argv[0] without "vodq-") is
 * strict, other sections are skipped. */
static void test_sections(void **state)
{
    (void)state;
    const char *path = write_cfg("; shared by all programs\n"
                                 "[vodq]\n"
                                 "redis = redis://shared:1\n"
                                 "colour = blue   # an option of another program\n"
                                 "[scheduler]\n"
                                 "slots = 99\n"
                                 "lease-ms = nonsense\n"
                                 "[prog]\n"
                                 "slots = 8 ; inline comment\n"
                                 "  name = p1\n"
                                 "[worker]\n"
                                 "http = 0.0.0.0:9100\n");
    struct args a;
    assert_int_equal(load(&a, "--config", (char *)path, NULL), VODQ_OK);
    assert_string_equal(redis_url, "redis://shared:1");
    assert_int_equal(slots, 8);
    assert_string_equal(name, "p1");
    unlink(cfg_path);

    /* an unknown name in the program's own section is an error naming it */
    path = write_cfg("[vodq]\nslots = 2\n[prog]\ncolour = blue\n");
    char want[256];
    snprintf(want, sizeof(want), "%s:4: unknown option 'colour' in [prog]", path);
    expect_invalid(load(&a, "--config", (char *)path, NULL), &a, want);
    unlink(cfg_path);

    /* a line too long for the parser is refused, not cut */
    char big[400];
    snprintf(big, sizeof(big), "name = %0300d\n", 7);
    path = write_cfg(big);
    snprintf(want, sizeof(want), "%s:1: line longer than 199 bytes", path);
    expect_invalid(load(&a, "--config", (char *)path, NULL), &a, want);
}

static void test_precedence(void **state)
{
    (void)state;
    const char *path = write_cfg("slots = 8\nredis = redis://file:1\nverbose = false\n");
    struct args a;
    /* the environment overrides the file */
    setenv("VODQ_TEST_SLOTS", "16", 1);
    setenv("VODQ_TEST_VERBOSE", "on", 1);
    assert_int_equal(load(&a, "--config", (char *)path, NULL), VODQ_OK);
    assert_int_equal(slots, 16);
    assert_true(verbose);
    assert_string_equal(redis_url, "redis://file:1");
    /* flags override the environment */
    setenv("VODQ_TEST_REDIS", "redis://env:2", 1);
    assert_int_equal(load(&a, "--config", (char *)path, "--slots", "32", "--no-verbose", NULL),
                     VODQ_OK);
    assert_int_equal(slots, 32);
    assert_false(verbose);
    assert_string_equal(redis_url, "redis://env:2");
    assert_int_equal(load(&a, "--redis=redis://flag:3", NULL), VODQ_OK);
    assert_string_equal(redis_url, "redis://flag:3");
    assert_int_equal(slots, 16);
    /* the last flag wins */
    assert_int_equal(load(&a, "--slots=2", "--slots", "3", NULL), VODQ_OK);
    assert_int_equal(slots, 3);
}

static void test_flag_forms(void **state)
{
    (void)state;
    struct args a;
    assert_int_equal(load(&a, "--slots=5", "--name", "w1", "--lease-ms", "-7", NULL), VODQ_OK);
    assert_int_equal(slots, 5);
    assert_string_equal(name, "w1");
    assert_int_equal(lease_ms, -7); /* no range: anything goes, even a leading '-' */
    assert_int_equal(a.npos, 0);
    /* a value may look like anything, "=" included */
    assert_int_equal(load(&a, "--name=a=b", "--redis", "--x", NULL), VODQ_OK);
    assert_string_equal(name, "a=b");
    assert_string_equal(redis_url, "--x");
    /* bools: bare sets true, --no- sets false, =value parses */
    assert_int_equal(load(&a, "--verbose", "--no-metrics", NULL), VODQ_OK);
    assert_true(verbose);
    assert_false(metrics);
    assert_int_equal(load(&a, "--verbose=false", "--metrics=1", NULL), VODQ_OK);
    assert_false(verbose);
    assert_true(metrics);
    assert_int_equal(load(&a, "--verbose=TRUE", "--metrics=No", NULL), VODQ_OK);
    assert_true(verbose);
    assert_false(metrics);
    /* a bare bool flag does not eat the next argument */
    assert_int_equal(load(&a, "--verbose", "file.json", NULL), VODQ_OK);
    assert_true(verbose);
    assert_int_equal(a.npos, 1);
    assert_string_equal(a.v[1], "file.json");
}

static void test_errors(void **state)
{
    (void)state;
    struct args a;
    expect_invalid(load(&a, "--slots", "abc", NULL), &a, "slots (flag): 'abc' is not an integer");
    expect_invalid(load(&a, "--slots=12x", NULL), &a, "'12x' is not an integer");
    expect_invalid(load(&a, "--slots=99999999999999999999", NULL), &a, "is not an integer");
    expect_invalid(load(&a, "--slots", "0", NULL), &a, "slots (flag): 0 is out of range 1..64");
    expect_invalid(load(&a, "--slots=65", NULL), &a, "65 is out of range 1..64");
    expect_invalid(load(&a, "--verbose=maybe", NULL), &a,
                   "verbose (flag): 'maybe' is not a boolean");
    expect_invalid(load(&a, "--nope", NULL), &a, "unknown flag '--nope'");
    expect_invalid(load(&a, "--nope=1", NULL), &a, "unknown flag '--nope'");
    expect_invalid(load(&a, "-x", NULL), &a, "unknown flag '-x'");
    /* --no- is for booleans only */
    expect_invalid(load(&a, "--no-slots", NULL), &a, "unknown flag '--no-slots'");
    expect_invalid(load(&a, "--no-", NULL), &a, "unknown flag '--no-'");
    expect_invalid(load(&a, "--slots", NULL), &a, "--slots needs a value");
    /* an empty value is not a number in range either */
    expect_invalid(load(&a, "--slots=", NULL), &a, "slots (flag)");
    /* bad values from the environment name the variable */
    setenv("VODQ_TEST_SLOTS", "many", 1);
    expect_invalid(load(&a, NULL), &a, "slots (VODQ_TEST_SLOTS): 'many' is not an integer");
    setenv("VODQ_TEST_SLOTS", "100", 1);
    expect_invalid(load(&a, NULL), &a, "slots (VODQ_TEST_SLOTS): 100 is out of range 1..64");
    unsetenv("VODQ_TEST_SLOTS");
    setenv("VODQ_TEST_VERBOSE", "sure", 1);
    expect_invalid(load(&a, NULL), &a, "verbose (VODQ_TEST_VERBOSE): 'sure' is not a boolean");
    unsetenv("VODQ_TEST_VERBOSE");
}

static void test_file_errors(void **state)
{
    (void)state;
    struct args a;
    /* each error names the file and line, and what is wrong */
    static const struct {
        const char *text;
        int line;
        const char *what;
    } cases[] = {
        {"slots = 2\n# fine\ncolour = blue\n", 3, "unknown option 'colour'"},
        {"\nslots 4\n", 2, "expected 'name = value'"},
        {"redis = r\nslots = lots\n", 2, "slots (%s): 'lots' is not an integer"},
        {"slots = 0\n", 1, "slots (%s): 0 is out of range 1..64"},
        {"metrics = sometimes\n", 1, "metrics (%s): 'sometimes' is not a boolean"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *path = write_cfg(cases[i].text);
        char where[128], want[256];
        snprintf(where, sizeof(where), "%s:%d", path, cases[i].line);
        /* the option's own errors put the place in parentheses */
        const char *pct = strstr(cases[i].what, "%s");
        if (pct)
            snprintf(want, sizeof(want), "%.*s%s%s", (int)(pct - cases[i].what), cases[i].what,
                     where, pct + 2);
        else
            snprintf(want, sizeof(want), "%s: %s", where, cases[i].what);
        expect_invalid(load(&a, "--config", (char *)path, NULL), &a, want);
        unlink(cfg_path);
        cfg_path[0] = '\0';
    }

    /* a missing file is an I/O error naming it */
    enum vodq_rc rc = load(&a, "--config=/nonexistent/dir/vodq.conf", NULL);
    assert_int_equal(rc, VODQ_ERR_IO);
    assert_non_null(strstr(a.err.msg, "/nonexistent/dir/vodq.conf"));
    setenv("VODQ_CONFIG", "/nonexistent/env.conf", 1);
    rc = load(&a, NULL);
    assert_int_equal(rc, VODQ_ERR_IO);
    assert_non_null(strstr(a.err.msg, "/nonexistent/env.conf"));
    unsetenv("VODQ_CONFIG");
}

static void test_positional(void **state)
{
    (void)state;
    struct args a;
    assert_int_equal(load(&a, "submit", "--slots", "2", "a.json", "-", "--verbose", "b.json",
                          NULL),
                     VODQ_OK);
    assert_int_equal(a.npos, 4);
    assert_string_equal(a.v[1], "submit");
    assert_string_equal(a.v[2], "a.json");
    assert_string_equal(a.v[3], "-");
    assert_string_equal(a.v[4], "b.json");
    assert_int_equal(slots, 2);
    assert_true(verbose);

    /* "--" ends the flags: what follows is positional, even --help */
    assert_int_equal(load(&a, "x", "--", "--slots", "-v", "--help", NULL), VODQ_OK);
    assert_int_equal(a.npos, 4);
    assert_string_equal(a.v[1], "x");
    assert_string_equal(a.v[2], "--slots");
    assert_string_equal(a.v[3], "-v");
    assert_string_equal(a.v[4], "--help");
    assert_false(a.help);
    assert_int_equal(slots, 4);
    /* ...and a --config after it is not read */
    assert_int_equal(load(&a, "--", "--config", "/nonexistent/vodq.conf", NULL), VODQ_OK);
    assert_int_equal(a.npos, 2);
    assert_string_equal(a.v[1], "--config");
}

static void test_help(void **state)
{
    (void)state;
    struct args a;
    assert_int_equal(load(&a, "--help", NULL), VODQ_OK);
    assert_true(a.help);
    assert_int_equal(load(&a, "status", "-h", "id1", NULL), VODQ_OK);
    assert_true(a.help);
    assert_int_equal(a.npos, 2);
    assert_int_equal(load(&a, "--slots", "3", NULL), VODQ_OK);
    assert_false(a.help);
}

static void test_usage(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    vodq_config_usage(f, "vodq-test", "[options] FILE", "Tests things.", opts, NOPTS);
    fclose(f);
    assert_non_null(strstr(buf, "Usage: vodq-test [options] FILE"));
    assert_non_null(strstr(buf, "Tests things."));
    /* every option, its environment variable and its default */
    for (int i = 0; i < NOPTS; i++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s", opts[i].name);
        if (!strstr(buf, flag))
            fail_msg("usage lacks %s:\n%s", flag, buf);
        assert_non_null(strstr(buf, opts[i].help));
        if (opts[i].env)
            assert_non_null(strstr(buf, opts[i].env));
    }
    assert_non_null(strstr(buf, "default: redis://127.0.0.1:6379"));
    assert_non_null(strstr(buf, "default: 4"));
    assert_non_null(strstr(buf, "default: true"));
    assert_non_null(strstr(buf, "--slots N"));
    assert_non_null(strstr(buf, "--redis VALUE"));
    assert_non_null(strstr(buf, "--config FILE"));
    assert_non_null(strstr(buf, "--help"));
    free(buf);
}

/* Runs vodq_config_main on "prog" + the NULL-terminated list with stdout
 * and stderr captured into out (both, in order). Returns its result. */
static int run_main(int max_pos, char *out, size_t cap, ...)
{
    char *v[32];
    int c = 0, npos = -1;
    v[c++] = "prog";
    va_list ap;
    va_start(ap, cap);
    for (char *s; (s = va_arg(ap, char *)) != NULL;)
        v[c++] = s;
    va_end(ap);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stdout);
    fflush(stderr);
    int o = dup(1), e = dup(2);
    dup2(fileno(tmp), 1);
    dup2(fileno(tmp), 2);
    int rc = vodq_config_main(opts, NOPTS, c, v, &npos, max_pos, "vodq-test", "[options] ID",
                              "Tests things.");
    fflush(stdout);
    fflush(stderr);
    dup2(o, 1);
    dup2(e, 2);
    close(o);
    close(e);
    rewind(tmp);
    size_t n = fread(out, 1, cap - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return rc;
}

static void test_main(void **state)
{
    (void)state;
    char out[4096];
    /* go on */
    assert_int_equal(run_main(1, out, sizeof(out), "--slots", "2", "id1", NULL), -1);
    assert_string_equal(out, "");
    assert_int_equal(slots, 2);
    assert_int_equal(run_main(-1, out, sizeof(out), "a", "b", "c", NULL), -1);
    /* --help: usage, exit 0 */
    assert_int_equal(run_main(1, out, sizeof(out), "--help", NULL), 0);
    assert_non_null(strstr(out, "Usage: vodq-test [options] ID"));
    assert_non_null(strstr(out, "--slots N"));
    /* a bad option: the reason, prefixed with the program, exit 2 */
    assert_int_equal(run_main(1, out, sizeof(out), "--slots=zero", NULL), 2);
    assert_non_null(strstr(out, "vodq-test: slots (flag): 'zero' is not an integer"));
    /* too many positional arguments: the first extra one is named */
    assert_int_equal(run_main(1, out, sizeof(out), "id1", "extra", NULL), 2);
    assert_non_null(strstr(out, "vodq-test: unexpected argument 'extra'"));
    assert_int_equal(run_main(0, out, sizeof(out), "id1", NULL), 2);
    assert_non_null(strstr(out, "'id1'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_positional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_main, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
