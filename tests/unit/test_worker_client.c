/* test_worker_client.c: the public client library (include/vodq/vodq.h)
 * against a real redis-server started here, with a scheduler and a worker
 * (sleep tasks) running in threads of this process. */
#include "scheduler/sched.h"
#include "shared/job.h"
#include "vodq/vodq.h"
#include "worker/loop.h"
#include "worker/sleep.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static pid_t redis_pid;
static char url[64];
static struct vodq_sched *sched;
static struct vodq_worker *worker;
static pthread_t sched_th, worker_th;

static void *run_sched(void *a)
{
    struct vodq_err err = {0};
    vodq_sched_run(a, &err);
    return NULL;
}

static void *run_worker(void *a)
{
    struct vodq_err err = {0};
    vodq_worker_run(a, &err);
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    int port = 20000 + (int)(getpid() % 20000);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    redis_pid = fork();
    if (redis_pid == 0) {
        char p[16];
        snprintf(p, sizeof(p), "%d", port);
        execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--logfile", "/dev/null", (char *)NULL);
        _exit(127);
    }
    struct vodq_err err = {0};
    struct vodq_client *c = NULL;
    for (int i = 0; i < 100 && !c; i++) {
        usleep(50000);
        c = vodq_client_open(url, NULL, &err);
    }
    if (!c)
        return -1;
    vodq_client_close(c);
    struct vodq_sched_config sc = {.redis_url = url, .queue = "default", .id = "s-test",
                                   .lease_ms = 30000, .worker_timeout_ms = 10000, .tick_ms = 100,
                                   .block_ms = 100, .events_maxlen = 100000, .retention_s = 3600,
                                   .defaults = {3, 100, 1000, 1 << 20}};
    sched = vodq_sched_new(&sc, &err);
    struct vodq_worker_config wc = {.redis_url = url, .queue = "default", .id = "w-test",
                                    .heartbeat_ms = 200, .progress_interval_ms = 50,
                                    .grace_ms = 2000, .block_ms = 200, .events_maxlen = 100000,
                                    .retention_s = 3600};
    wc.slots[VODQ_TASK_SLEEP] = 2;
    wc.exec[VODQ_TASK_SLEEP] = vodq_sleep_run;
    worker = vodq_worker_new(&wc, &err);
    if (!sched || !worker)
        return -1;
    pthread_create(&sched_th, NULL, run_sched, sched);
    pthread_create(&worker_th, NULL, run_worker, worker);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vodq_sched_stop(sched);
    vodq_worker_stop(worker);
    pthread_join(sched_th, NULL);
    pthread_join(worker_th, NULL);
    vodq_sched_free(sched);
    vodq_worker_free(worker);
    kill(redis_pid, SIGTERM);
    waitpid(redis_pid, NULL, 0);
    return 0;
}

struct seen {
    int progress, states, succeeded;
    double last_pct;
    bool backwards;
};

static void on_progress(void *o, const char *id, double pct, const char *data)
{
    (void)id;
    (void)data;
    struct seen *s = o;
    if (pct < s->last_pct)
        s->backwards = true;
    s->last_pct = pct;
    s->progress++;
}

static void on_state(void *o, const char *id, const char *state, const char *data)
{
    (void)id;
    (void)data;
    struct seen *s = o;
    s->states++;
    if (!strcmp(state, "succeeded"))
        s->succeeded++;
}

static void test_submit_and_watch(void **state)
{
    (void)state;
    struct vodq_err err = {0};
    struct vodq_client *c = vodq_client_open(url, NULL, &err);
    assert_non_null(c);
    char id[130];
    assert_int_equal(vodq_submit(c, "{\"type\":\"sleep\",\"session\":\"s1\",\"sleep\":{\"ms\":400}}",
                                 id, sizeof(id), &err),
                     VODQ_OK);
    assert_int_equal(strlen(id), 26);
    struct seen s = {0};
    struct vodq_callbacks cb = {.opaque = &s, .on_progress = on_progress, .on_state = on_state};
    assert_int_equal(vodq_job_watch(c, id, &cb, 10000, &err), VODQ_OK);
    assert_true(s.progress >= 2);
    assert_false(s.backwards);
    assert_int_equal(s.succeeded, 1);
    assert_true(s.states >= 3); /* queued, active, succeeded */
    char *j = vodq_job_status(c, id, &err);
    assert_non_null(j);
    assert_non_null(strstr(j, "\"state\":\"succeeded\""));
    free(j);
    char *sj = vodq_session_get(c, "s1", &err);
    assert_non_null(sj);
    char want[200];
    snprintf(want, sizeof(want), "{\"id\":\"%s\",\"type\":\"sleep\",\"state\":\"succeeded\",\"seq\":1}", id);
    if (!strstr(sj, want))
        fail_msg("session_get: %s lacks %s", sj, want);
    free(sj);
    assert_int_equal(vodq_session_release(c, "s1", 0, &err), VODQ_OK);
    assert_int_equal(vodq_session_release(c, "s1", 0, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "session released"));
    assert_null(vodq_session_get(c, "s1", &err));
    assert_non_null(strstr(err.msg, "session released"));
    assert_null(vodq_session_get(c, "never-seen", &err));
    assert_int_equal(err.code, VODQ_ERR_NOTFOUND);
    /* a job submitted to a released session is rejected, naming it */
    assert_int_equal(vodq_submit(c, "{\"type\":\"sleep\",\"session\":\"s1\",\"sleep\":{\"ms\":1}}",
                                 id, sizeof(id), &err),
                     VODQ_OK);
    assert_int_not_equal(vodq_job_watch(c, id, NULL, 10000, &err), VODQ_OK);
    if (!strstr(err.msg, "session released"))
        fail_msg("job in a released session: %s", err.msg);
    vodq_client_close(c);
}

static void test_invalid_and_cancel(void **state)
{
    (void)state;
    struct vodq_err err = {0};
    struct vodq_client *c = vodq_client_open(url, NULL, &err);
    assert_non_null(c);
    char id[130];
    assert_int_equal(vodq_submit(c, "{\"type\":\"sleep\",\"sleep\":{\"ms\":true}}", id, sizeof(id),
                                 &err),
                     VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "sleep.ms"));
    assert_int_equal(vodq_job_watch(c, id, NULL, 10000, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "rejected"));

    assert_int_equal(vodq_submit(c, "{\"type\":\"sleep\",\"sleep\":{\"ms\":60000}}", id,
                                 sizeof(id), &err),
                     VODQ_OK);
    usleep(300000);
    assert_int_equal(vodq_job_cancel(c, id, &err), VODQ_OK);
    assert_int_equal(vodq_job_watch(c, id, NULL, 5000, &err), VODQ_ERR_CANCELLED);
    assert_int_equal(vodq_job_cancel(c, id, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "cancelled"));
    assert_int_equal(vodq_job_pause(c, "no-such-job", &err), VODQ_ERR_NOTFOUND);
    assert_int_equal(vodq_session_compose(c, "s2", "[1,2]", "/tmp/x.mp4", id, sizeof(id), &err),
                     VODQ_ERR_INVALID);
    vodq_client_close(c);
}

/* vodq_submit_many: results in order, an invalid spec named and not sent, the valid ones run */
static void test_submit_many(void **state)
{
    (void)state;
    struct vodq_err err = {0};
    struct vodq_client *c = vodq_client_open(url, NULL, &err);
    assert_non_null(c);
    const char *specs[] = {"{\"id\":\"many-1\",\"type\":\"sleep\",\"sleep\":{\"ms\":1}}",
                           "{\"id\":\"many-2\",\"type\":\"sleep\",\"sleep\":{\"ms\":-5}}",
                           "{\"type\":\"sleep\",\"sleep\":{\"ms\":1}}"};
    struct vodq_submit_result res[3];
    assert_int_equal(vodq_submit_many(c, specs, 3, res, &err), VODQ_ERR_INVALID);
    assert_non_null(strstr(err.msg, "1 of 3"));
    assert_string_equal(res[0].id, "many-1");
    assert_int_equal(res[0].err.code, VODQ_OK);
    assert_int_equal(res[1].err.code, VODQ_ERR_INVALID);
    if (!strstr(res[1].err.msg, "sleep.ms"))
        fail_msg("invalid spec's result: %s", res[1].err.msg);
    assert_int_equal(res[2].err.code, VODQ_OK);
    assert_int_equal(strlen(res[2].id), 26);
    assert_int_equal(vodq_job_watch(c, "many-1", NULL, 10000, &err), VODQ_OK);
    assert_int_equal(vodq_job_watch(c, res[2].id, NULL, 10000, &err), VODQ_OK);
    assert_null(vodq_job_status(c, "many-2", &err)); /* not sent: nothing recorded */
    assert_int_equal(err.code, VODQ_ERR_NOTFOUND);
    vodq_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_and_watch),
        cmocka_unit_test(test_invalid_and_cancel),
        cmocka_unit_test(test_submit_many),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
