/* test_roots.c: shared/roots.c: realpath containment, symlinks escaping a
 * root, files still to be written, dangling symlinks, protocols and URLs,
 * and the root list itself. */
#include "shared/roots.h"

#include <limits.h>
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

static char base[PATH_MAX];
static char root[PATH_MAX + 8], out[PATH_MAX + 16];

static void mk(const char *rel, bool dir)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    if (dir) {
        assert_int_equal(mkdir(p, 0700), 0);
    } else {
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fclose(f);
    }
}

static void ln(const char *target, const char *rel)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/vodq-roots-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, base));
    mk("root", true);
    mk("root/sub", true);
    mk("root/sub/a.mp4", false);
    mk("out", true);
    mk("out/secret", false);
    char t[PATH_MAX * 2];
    snprintf(t, sizeof(t), "%s/out/secret", base);
    ln(t, "root/sub/link");
    snprintf(t, sizeof(t), "%s/out", base);
    ln(t, "root/dirlink");
    ln("../sub/a.mp4", "root/sub/inner"); /* a symlink that stays inside */
    snprintf(t, sizeof(t), "%s/out/none", base);
    ln(t, "root/dangling");
    snprintf(root, sizeof(root), "%s/root", base);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

static enum vodq_rc chk(const struct vodq_roots *r, const char *rel, enum vodq_roots_kind k,
                        struct vodq_err *err)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    memset(err, 0, sizeof(*err));
    return vodq_roots_check(r, "upload.file", p, k, out, sizeof(out), err);
}

static void test_containment(void **state)
{
    (void)state;
    struct vodq_roots r;
    struct vodq_err err = {0};
    char list[PATH_MAX * 3];
    snprintf(list, sizeof(list), " %s/root/ ,, /nonexistent-but-skipped-no", base);
    assert_int_equal(vodq_roots_parse(&r, list, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "/nonexistent-but-skipped-no"));
    vodq_roots_cleanup(&r);
    snprintf(list, sizeof(list), " %s/root/ , %s/root/sub", base, base);
    assert_int_equal(vodq_roots_parse(&r, list, &err), VODQ_OK);
    assert_int_equal(r.n, 2);

    assert_int_equal(chk(&r, "root/sub/a.mp4", VODQ_ROOTS_READ, &err), VODQ_OK);
    char want[PATH_MAX * 2];
    snprintf(want, sizeof(want), "%s/root/sub/a.mp4", base);
    assert_string_equal(out, want);
    assert_int_equal(chk(&r, "root/sub/inner", VODQ_ROOTS_READ, &err), VODQ_OK);
    assert_string_equal(out, want); /* the symlink resolved */
    assert_int_equal(chk(&r, "root/sub/new.mp4", VODQ_ROOTS_WRITE, &err), VODQ_OK);

    /* escapes: a file symlink, a folder symlink, "..", a dangling symlink */
    assert_int_equal(chk(&r, "root/sub/link", VODQ_ROOTS_READ, &err), VODQ_ERR_INVALID);
    assert_true(err.permanent);
    assert_non_null(strstr(err.msg, "upload.file: "));
    assert_non_null(strstr(err.msg, "root/sub/link"));
    assert_non_null(strstr(err.msg, root));
    assert_int_equal(chk(&r, "root/dirlink/secret", VODQ_ROOTS_READ, &err), VODQ_ERR_INVALID);
    assert_int_equal(chk(&r, "root/dirlink/new.mp4", VODQ_ROOTS_WRITE, &err), VODQ_ERR_INVALID);
    assert_int_equal(chk(&r, "root/../out/secret", VODQ_ROOTS_READ, &err), VODQ_ERR_INVALID);
    assert_int_equal(chk(&r, "root/dangling", VODQ_ROOTS_WRITE, &err), VODQ_ERR_INVALID);
    assert_int_equal(chk(&r, "rootx/a", VODQ_ROOTS_WRITE, &err), VODQ_ERR_INVALID);
    assert_int_equal(chk(&r, "root/nofolder/x.mp4", VODQ_ROOTS_WRITE, &err), VODQ_ERR_INVALID);
    assert_int_equal(chk(&r, "root/sub", VODQ_ROOTS_DIR, &err), VODQ_OK);
    assert_int_equal(chk(&r, "root/dirlink", VODQ_ROOTS_DIR, &err), VODQ_ERR_INVALID);

    /* protocols and URLs */
    assert_int_equal(vodq_roots_check(&r, "src", "file:/etc/passwd", VODQ_ROOTS_READ, out,
                                      sizeof(out), &err),
                     VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "only local paths"));
    assert_int_equal(vodq_roots_check(&r, "src", "concat:/a|/b", VODQ_ROOTS_READ, NULL, 0, &err),
                     VODQ_ERR_INVALID);
    assert_int_equal(vodq_roots_check(&r, "src", "https://h/x.mp4", VODQ_ROOTS_READ, NULL, 0,
                                      &err),
                     VODQ_OK);
    vodq_roots_cleanup(&r);

    /* no roots: everything passes unchanged */
    assert_int_equal(vodq_roots_parse(&r, "", &err), VODQ_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(chk(&r, "root/sub/link", VODQ_ROOTS_READ, &err), VODQ_OK);
    assert_non_null(strstr(out, "root/sub/link"));
    assert_int_equal(vodq_roots_check(NULL, "x", "/etc/passwd", VODQ_ROOTS_READ, NULL, 0, &err),
                     VODQ_OK);
    vodq_roots_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_containment, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
