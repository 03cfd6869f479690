/* ctl.c: vodqctl, the command line client of a vodq queue. */
#include "vodq/vodq.h"

#include "shared/client.h"
#include "shared/config.h"
#include "shared/crypto.h"
#include "shared/job.h"
#include "shared/keys.h"
#include "shared/proto.h"
#include "shared/redis.h"
#include "scheduler/schedule.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *synopsis = "[OPTIONS] COMMAND [ARGS]";
static const char *description =
    "Commands:\n"
    "  submit FILE|-            submit a JSON job spec; prints the job id alone\n"
    "  submit --bulk FILE|-     one JSON spec per line, pipelined; prints one line per\n"
    "                           input line: the job id, or \"error: line N: PATH: why\"\n"
    "                           (exit 1 if any line was not submitted)\n"
    "  status ID [--json]       the job's state, progress, attempts and error (a group:\n"
    "                           the percent of its members ended, and a line per member)\n"
    "  watch ID                 follow a job with a progress bar until it ends\n"
    "                           (exit 0 when it succeeds, 1 otherwise)\n"
    "  list [--state S]         jobs, newest first (--limit N)\n"
    "  pause ID | resume ID | cancel ID\n"
    "  refresh-auth ID AUTH     new upload credentials (base64 UploadAuth, or S3 JSON;\n"
    "                           '-' reads them from standard input)\n"
    "  remove ID...             delete finished, queued or delayed jobs (a queued one's\n"
    "                           task too: no worker runs it); active, paused and waiting\n"
    "                           jobs are refused (cancel them first)\n"
    "  purge --state S --older-than AGE\n"
    "                           remove the jobs in state S (dead, succeeded, cancelled,\n"
    "                           rejected) that ended more than AGE ago (7d, 12h, 30m,\n"
    "                           45s); prints how many\n"
    "  dead list                dead-lettered jobs with their last error\n"
    "  retry ID                 bring a dead job back\n"
    "  stats                    depth, in flight, rates and workers\n"
    "  session show S [--json]  a session's last export (path, job, number) and its jobs\n"
    "  session release S [--delete-exports]\n"
    "                           cancel the session's unfinished jobs and delete its keys\n"
    "                           (--delete-exports: and the files it exported, deleted\n"
    "                           from this host); later calls for it fail\n"
    "  media set ID URL         map an Aliyun MediaId/ImageId to a path or URL for\n"
    "                           imported Aliyun timelines (docs/aliyun-timeline.md)\n"
    "  media list | media rm ID the map, or remove one entry\n"
    "  tenant set T [--weight N] [--max-running N|none] [--rate N/PER|off]\n"
    "                           fair sharing: T's share of a busy lane (weight, default\n"
    "                           1), its cap on jobs running at once, its rate limit\n"
    "                           (jobs per interval: 100/1m, 5/s, 20/500ms)\n"
    "  tenant show T | tenant rm T\n"
    "                           a tenant's settings, running and waiting jobs; rm drops\n"
    "                           its settings\n"
    "  lane set L [--rate N/PER|off] [--aging-ms MS]\n"
    "                           make lane L fair (priorities, tenants: docs/protocol.md\n"
    "                           section 17) and set its rate limit and its aging step\n"
    "                           (each priority level is worth MS of waiting, default\n"
    "                           60000)\n"
    "  lane show L              a lane's settings, waiting tokens and tenants\n"
    "  schedule add NAME CRON SPEC [--catch-up latest|all|none]\n"
    "                           run SPEC (a file, '-' or inline JSON without \"id\") on\n"
    "                           the 5-field cron expression CRON (UTC; e.g. \"*/5 * * * *\");\n"
    "                           each slot's job is cron:NAME:YYYYMMDDTHHMM. After downtime\n"
    "                           --catch-up latest fires the newest missed slot once,\n"
    "                           all fires every missed slot, none skips those more\n"
    "                           than 60 s late\n"
    "  schedule list [--json]   schedules with their next and last slot\n"
    "  schedule remove NAME     stop a schedule (its jobs stay)\n"
    "  functions name|print     the name or the text of the Redis FUNCTION library that\n"
    "                           holds the queue's scripts (programs load it themselves;\n"
    "                           where their ACL user may not, load it once with\n"
    "                           vodqctl functions print | redis-cli -x FUNCTION LOAD)\n"
    "  functions eval SCRIPT    the EVAL text of one script (step, submit, ...), as sent\n"
    "                           to a Redis without FUNCTION\n"

    "\n"
    "Exit status: 0 success; 1 failure (a Redis error, a failed job for watch);\n"
    "2 usage error (bad flag, unknown command, missing argument).";

/* The public client library (include/vodq/vodq.h) does the work; R and Q are its
 * connection and queue, for the few calls that have no public function. */
static struct vodq_client *C;
static struct vodq_redis *R;
static struct vodq_queue Q;
static bool json_out;
static bool delete_exports;

/* Prints "vodqctl: MESSAGE[ (try --help)]" and returns status. */
static int vfail(int status, const char *fmt, va_list ap)
{
    fputs("vodqctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(status == 2 ? " (try --help)\n" : "\n", stderr);
    return status;
}

static int fail(const char *fmt, ...) VODQ_PRINTF(1, 2);
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(1, fmt, ap);
    va_end(ap);
    return rc;
}

/* A usage error (bad flag, missing or unknown argument): exit status 2. */
static int usage_fail(const char *fmt, ...) VODQ_PRINTF(1, 2);
static int usage_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(2, fmt, ap);
    va_end(ap);
    return rc;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
    }
    if (f != stdin)
        fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

#define BULK_CHUNK 4096 /* lines handed to vodq_submit_many at a time */

/* Submits a chunk of lines; prints one result line each. Returns the number that failed. */
static size_t bulk_flush(char **lines, size_t n, size_t first_line,
                         struct vodq_submit_result *res)
{
    struct vodq_err err = {0};
    vodq_submit_many(C, (const char *const *)lines, n, res, &err);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (res[i].err.code == VODQ_OK) {
            printf("%s\n", res[i].id);
        } else {
            printf("error: line %zu: %s\n", first_line + i, res[i].err.msg);
            bad++;
        }
        free(lines[i]);
    }
    return bad;
}

static int cmd_submit_bulk(const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return fail("submit --bulk: cannot read %s: %s", path, strerror(errno));
    char **lines = calloc(BULK_CHUNK, sizeof(*lines));
    struct vodq_submit_result *res = calloc(BULK_CHUNK, sizeof(*res));
    size_t n = 0, lineno = 0, bad = 0, total = 0;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    if (!lines || !res) {
        rc = fail("submit --bulk: out of memory");
        goto done;
    }
    while ((got = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
            buf[--got] = '\0';
        if (!(lines[n] = strndup(buf, (size_t)got))) {
            rc = fail("submit --bulk: out of memory");
            break;
        }
        if (++n == BULK_CHUNK) {
            bad += bulk_flush(lines, n, lineno - n + 1, res);
            total += n;
            n = 0;
        }
    }
    if (n) {
        bad += bulk_flush(lines, n, lineno - n + 1, res);
        total += n;
    }
    if (ferror(f))
        rc = fail("submit --bulk: reading %s: %s", path, strerror(errno));
    fflush(stdout);
    if (bad)
        rc = fail("submit --bulk: %zu of %zu line(s) not submitted", bad, total);
done:
    free(buf);
    free(lines);
    free(res);
    if (f != stdin)
        fclose(f);
    return rc;
}

static int cmd_submit(int argc, char **argv, const struct vodq_job_defaults *d, const char *bulk)
{
    if (bulk && *bulk)
        return cmd_submit_bulk(bulk);
    if (argc < 1)
        return usage_fail("submit: which file? (FILE or - for standard input)");
    size_t len = 0;
    char *text = read_all(argv[0], &len);
    if (!text)
        return fail("submit: cannot read %s: %s", argv[0], strerror(errno));
    char id[VODQ_ID_MAX + 1] = "";
    struct vodq_err err = {0};
    (void)d;   /* the library validates with the same defaults */
    (void)len; /* a spec is text: it ends at its first NUL */
    enum vodq_rc rc = vodq_submit(C, text, id, sizeof(id), &err);
    free(text);
    if (rc == VODQ_ERR_INVALID) {
        /* submitted anyway: the scheduler records the job as rejected */
        printf("%s\n", id);
        return fail("submit: job %s will be rejected: %s", id, err.msg);
    }
    if (rc != VODQ_OK)
        return fail("submit: %s", err.msg);
    printf("%s\n", id);
    return 0;
}

static int cmd_remove(int argc, char **argv)
{
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        struct vodq_err err = {0};
        if (vodq_job_remove(C, argv[i], &err) != VODQ_OK)
            rc = fail("%s", err.msg);
        else if (json_out)
            printf("{\"id\":\"%s\",\"result\":\"removed\"}\n", argv[i]);
        else
            printf("%s: removed\n", argv[i]);
    }
    return rc;
}

/* ---- schedule add|list|remove (scheduler/schedule.c) ---- */

/* Usage errors of schedule, found before connecting: 0 or 2 after a message. */
static int schedule_usage(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "add") && argc == 4)
        return 0;
    if (argc >= 1 && !strcmp(argv[0], "list") && argc == 1)
        return 0;
    if (argc >= 1 && !strcmp(argv[0], "remove") && argc == 2)
        return 0;
    return usage_fail("usage: schedule add NAME CRON SPEC | schedule list | schedule remove NAME");
}

static void iso_utc(long long ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int cmd_schedule(int argc, char **argv, const char *catch_up,
                        const struct vodq_job_defaults *d)
{
    (void)argc;
    struct vodq_err err = {0};
    if (!strcmp(argv[0], "add")) {
        size_t len = 0;
        bool inline_json = argv[3][0] == '{';
        char *spec = inline_json ? strdup(argv[3]) : read_all(argv[3], &len);
        if (!spec)
            return fail("schedule add: cannot read %s: %s", argv[3], strerror(errno));
        if (inline_json)
            len = strlen(spec);
        int64_t next = 0;
        bool replaced = false;
        enum vodq_rc rc = vodq_schedule_add(R, &Q, argv[1], argv[2], spec, len, catch_up, d,
                                            &next, &replaced, &err);
        free(spec);
        if (rc != VODQ_OK)
            return fail("schedule add %s: %s", argv[1], err.msg);
        char when[32];
        iso_utc(next, when, sizeof(when));
        if (json_out)
            printf("{\"name\":\"%s\",\"result\":\"%s\",\"next_at\":%lld}\n", argv[1],
                   replaced ? "replaced" : "added", (long long)next);
        else
            printf("%s: %s, next slot %s\n", argv[1], replaced ? "replaced" : "added", when);
        return 0;
    }
    if (!strcmp(argv[0], "remove")) {
        if (vodq_schedule_remove(R, &Q, argv[1], &err) != VODQ_OK)
            return fail("schedule remove: %s", err.msg);
        if (json_out)
            printf("{\"name\":\"%s\",\"result\":\"removed\"}\n", argv[1]);
        else
            printf("%s: removed\n", argv[1]);
        return 0;
    }
    char *list = vodq_schedule_list_json(R, &Q, &err);
    if (!list)
        return fail("schedule list: %s", err.msg);
    if (json_out) {
        printf("%s\n", list);
        free(list);
        return 0;
    }
    cJSON *arr = cJSON_Parse(list);
    free(list);
    printf("%-24s %-16s %-7s %-21s %-6s %s\n", "NAME", "CRON", "CATCHUP", "NEXT (UTC)", "FIRED",
           "LAST JOB");
    for (cJSON *o = arr ? arr->child : NULL; o; o = o->next) {
        const cJSON *nm = cJSON_GetObjectItem(o, "name"), *cr = cJSON_GetObjectItem(o, "cron"),
                    *cu = cJSON_GetObjectItem(o, "catch_up"), *nx = cJSON_GetObjectItem(o, "next_at"),
                    *fi = cJSON_GetObjectItem(o, "fired"), *lj = cJSON_GetObjectItem(o, "last_job");
        char when[32] = "-";
        if (cJSON_IsNumber(nx))
            iso_utc((long long)nx->valuedouble, when, sizeof(when));
        printf("%-24s %-16s %-7s %-21s %-6lld %s\n", cJSON_IsString(nm) ? nm->valuestring : "?",
               cJSON_IsString(cr) ? cr->valuestring : "?", cJSON_IsString(cu) ? cu->valuestring : "?",
               when, cJSON_IsNumber(fi) ? (long long)fi->valuedouble : 0LL,
               cJSON_IsString(lj) ? lj->valuestring : "-");
    }
    cJSON_Delete(arr);
    return 0;
}

/* "7d", "12h", "30m", "45s" or seconds: milliseconds, or -1. */
static long long age_ms(const char *s)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    long long unit = !*end ? 1000 : !strcmp(end, "s") ? 1000 : !strcmp(end, "m") ? 60000
                   : !strcmp(end, "h") ? 3600000 : !strcmp(end, "d") ? 86400000 : 0;
    if (errno || end == s || n < 0 || !unit || n > (1LL << 62) / unit)
        return -1;
    return n * unit;
}

/* purge's flags, checked before connecting: the age in ms, or -1 after a usage message. */
static long long purge_age(const char *state, const char *older)
{
    static const char *const ok[] = {"dead", "succeeded", "cancelled", "rejected"};
    bool known = false;
    for (size_t i = 0; state && i < sizeof(ok) / sizeof(ok[0]); i++)
        known |= !strcmp(state, ok[i]);
    if (!known) {
        usage_fail("purge: --state must be dead, succeeded, cancelled or rejected");
        return -1;
    }
    long long age = older && *older ? age_ms(older) : -1;
    if (age < 0)
        usage_fail("purge: --older-than AGE (7d, 12h, 30m, 45s) is required");
    return age;
}

static int cmd_purge(const char *state, const char *older, long long age)
{
    long long removed = 0, refused = 0;
    struct vodq_err err = {0};
    if (vodq_purge(C, state, age, &removed, &refused, &err) != VODQ_OK)
        return fail("purge: %s (%lld removed so far)", err.msg[0] ? err.msg : "failed", removed);
    if (json_out)
        printf("{\"state\":\"%s\",\"removed\":%lld,\"refused\":%lld}\n", state, removed,
               refused);
    else
        printf("purged %lld %s job(s) older than %s%s\n", removed, state, older,
               refused ? " (some refused: they hold an upload checkpoint)" : "");
    return 0;
}

/* Minimal JSON field readers over the job JSON we build ourselves. */
static void field(const char *json, const char *key, char *buf, size_t cap)
{
    if (!vodq_json_get_string(json, key, buf, cap)) {
        double v = vodq_json_get_number(json, key, -1e300);
        if (v > -1e299)
            snprintf(buf, cap, "%g", v);
    }
}

static void print_human(const char *j)
{
    char id[160], type[32], state[32], prog[32], att[16], maxa[16], error[1024], code[32];
    field(j, "id", id, sizeof(id));
    field(j, "type", type, sizeof(type));
    field(j, "state", state, sizeof(state));
    field(j, "progress", prog, sizeof(prog));
    field(j, "attempts", att, sizeof(att));
    field(j, "max_attempts", maxa, sizeof(maxa));
    field(j, "error", error, sizeof(error));
    field(j, "error_code", code, sizeof(code));
    if (!strcmp(type, "group")) { /* a group: its progress is the percent of members ended */
        char members[16];
        field(j, "members", members, sizeof(members));
        printf("%-28s %-8s %-15s %4s%%  members %s%s%s%s%s\n", id, type, state,
               prog[0] ? prog : "0", members[0] ? members : "?", error[0] ? "  " : "",
               code[0] ? code : "", code[0] && error[0] ? ": " : "", error);
        return;
    }
    printf("%-28s %-8s %-13s %6s%%  attempts %s/%s%s%s%s%s\n", id, type, state,
           prog[0] ? prog : "0", att[0] ? att : "0", maxa[0] ? maxa : "?", error[0] ? "  " : "",
           code[0] ? code : "", code[0] && error[0] ? ": " : "", error);
}

static int cmd_status(int argc, char **argv)
{
    if (argc < 1)
        return usage_fail("status: which job? (status ID)");
    struct vodq_err err = {0};
    char *j = vodq_job_status(C, argv[0], &err);
    if (!j)
        return fail("status: %s", err.msg);
    if (json_out)
        printf("%s\n", j);
    else
        print_human(j);
    char type[16] = "";
    field(j, "type", type, sizeof(type));
    int members = !json_out && !strcmp(type, "group") ? (int)vodq_json_get_number(j, "members", 0)
                                                      : 0;
    free(j);
    for (int i = 1; i <= members; i++) { /* a group: one line per member */
        char mid[VODQ_ID_MAX + 16];
        snprintf(mid, sizeof(mid), "%s.%d", argv[0], i);
        char *m = vodq_job_status(C, mid, &err);
        printf("  ");
        if (m)
            print_human(m);
        else
            printf("%s: %s\n", mid, err.msg);
        free(m);
    }
    return 0;
}

static void draw(const char *id, const char *state, double pct, bool tty, const char *extra)
{
    if (tty) {
        int width = 30, filled = (int)(pct / 100.0 * width + 0.5);
        char bar[64];
        for (int i = 0; i < width; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r%s [%s] %5.1f%% %-13s %s\033[K", id, bar, pct, state, extra);
    } else {
        fprintf(stderr, "%s %5.1f%% %s %s\n", id, pct, state, extra);
    }
    fflush(stderr);
}

/* What watch shows: the last state, percent and other event, redrawn on a change. */
struct watch_view {
    const char *id;
    bool tty;
    char state[32], detail[256];
    double pct;
};

static void watch_show(struct watch_view *v, const char *state, double pct)
{
    if (strcmp(state, v->state) || pct != v->pct) {
        draw(v->id, state, pct, v->tty, v->detail);
        snprintf(v->state, sizeof(v->state), "%s", state);
        v->pct = pct;
    }
}

static void watch_on_progress(void *opaque, const char *id, double percent, const char *data)
{
    (void)id;
    (void)data;
    struct watch_view *v = opaque;
    watch_show(v, v->state, percent);
}

static void watch_on_state(void *opaque, const char *id, const char *state, const char *data)
{
    (void)id;
    (void)data;
    struct watch_view *v = opaque;
    watch_show(v, state, v->pct < 0 ? 0 : v->pct);
}

static void watch_on_event(void *opaque, const char *id, const char *name, const char *data)
{
    (void)id;
    (void)data;
    struct watch_view *v = opaque;
    snprintf(v->detail, sizeof(v->detail), "(%s)", name);
}

static int cmd_watch(int argc, char **argv, const char *url)
{
    (void)url;
    if (argc < 1)
        return usage_fail("watch: which job? (watch ID)");
    const char *id = argv[0];
    struct watch_view v = {.id = id, .tty = isatty(2), .pct = -1};
    struct vodq_callbacks cb = {.opaque = &v,
                                .on_progress = watch_on_progress,
                                .on_state = watch_on_state,
                                .on_event = watch_on_event};
    struct vodq_err err = {0};
    int rc = 1;
    bool watched = false;
    for (;;) {
        /* the job hash is the durable truth: read it first, and after every watch that
         * returned (the job ended, or the connection dropped) */
        char *j = vodq_job_status(C, id, &err);
        if (!j) {
            if (err.code == VODQ_ERR_NOTFOUND) {
                rc = fail("watch: %s", err.msg);
                break;
            }
            sleep(1);
            continue;
        }
        char state[32], prog[32];
        field(j, "state", state, sizeof(state));
        field(j, "progress", prog, sizeof(prog));
        watch_show(&v, state, atof(prog));
        enum vodq_job_state st = vodq_job_state_parse(state);
        if (vodq_job_state_terminal(st)) {
            if (v.tty)
                fputc('\n', stderr);
            char e[1024];
            field(j, "error", e, sizeof(e));
            if (json_out)
                printf("%s\n", j);
            if (st != VODQ_JOB_SUCCEEDED && e[0])
                fprintf(stderr, "vodqctl: job %s %s: %s\n", id, state, e);
            rc = st == VODQ_JOB_SUCCEEDED ? 0 : 1;
            free(j);
            break;
        }
        free(j);
        if (watched)
            sleep(1); /* the last watch returned early: a dropped connection */
        /* follows the events stream until the job ends (its rc is the job's outcome or
         * a connection error: the hash above tells which) */
        struct vodq_err werr = {0};
        vodq_job_watch(C, id, &cb, 0, &werr);
        watched = true;
    }
    return rc;
}

/* Prints each job of a JSON array text as print_human does. */
static void print_jobs(const char *arr)
{
    cJSON *root = cJSON_Parse(arr);
    for (const cJSON *it = cJSON_IsArray(root) ? root->child : NULL; it; it = it->next) {
        char *j = cJSON_PrintUnformatted(it);
        if (j)
            print_human(j);
        cJSON_free(j);
    }
    cJSON_Delete(root);
}

static int cmd_list(int argc, char **argv, const char *state, long long limit)
{
    (void)argc;
    (void)argv;
    struct vodq_err err = {0};
    char *arr = vodq_job_list(C, state, (long)limit, &err);
    if (!arr)
        return fail("list: %s", err.msg[0] ? err.msg : "failed");
    if (json_out)
        printf("%s\n", arr);
    else
        print_jobs(arr);
    free(arr);
    return 0;
}

static int cmd_control(const char *cmd, int argc, char **argv)
{
    if (argc < 1)
        return usage_fail("%s: which job?", cmd);
    const char *arg = NULL;
    char *owned = NULL;
    if (!strcmp(cmd, "refresh_auth")) {
        if (argc < 2)
            return usage_fail("refresh-auth: usage: refresh-auth ID AUTH (or - to read it from stdin)");
        arg = argv[1];
        if (!strcmp(arg, "-")) {
            size_t len;
            owned = read_all("-", &len);
            while (owned && len && (owned[len - 1] == '\n' || owned[len - 1] == '\r'))
                owned[--len] = '\0';
            arg = owned;
        }
    }
    char msg[128];
    struct vodq_err err = {0};
    enum vodq_rc rc = vodq_job_control(C, argv[0], cmd, arg, msg, sizeof(msg), &err);
    free(owned);
    if (rc != VODQ_OK)
        return fail("%s", err.msg);
    if (json_out)
        printf("{\"id\":\"%s\",\"result\":\"%s\"}\n", argv[0], msg);
    else
        printf("%s: %s\n", argv[0], msg);
    return 0;
}

static int cmd_dead(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "list") != 0)
        return usage_fail("dead: usage: dead list");
    struct vodq_err err = {0};
    char *arr = vodq_dead_list(C, &err);
    if (!arr)
        return fail("dead list: %s", err.msg);
    if (json_out)
        printf("%s\n", arr);
    else
        print_jobs(arr);
    free(arr);
    return 0;
}

/* The queue's MediaId map (hash VODQ_KEY_MEDIA), read by the worker when
 * an imported Aliyun timeline names MediaIds. */
static int cmd_media(int argc, char **argv)
{
    struct vodq_err err = {0};
    enum vodq_rc rc = VODQ_OK;
    if (argc == 3 && !strcmp(argv[0], "set")) {
        if (!argv[1][0] || !argv[2][0])
            return fail("media set: ID and URL must not be empty");
        rc = vodq_media_set(C, argv[1], argv[2], &err);
    } else if (argc == 2 && !strcmp(argv[0], "rm")) {
        rc = vodq_media_remove(C, argv[1], &err);
        if (rc == VODQ_ERR_NOTFOUND)
            return fail("%s", err.msg);
    } else if (argc == 1 && !strcmp(argv[0], "list")) {
        char *o = vodq_media_list(C, &err);
        if (!o)
            return fail("media: %s", err.msg);
        if (json_out) {
            puts(o);
        } else {
            cJSON *root = cJSON_Parse(o);
            for (const cJSON *it = root ? root->child : NULL; it; it = it->next)
                printf("%s\t%s\n", it->string, cJSON_IsString(it) ? it->valuestring : "");
            cJSON_Delete(root);
        }
        free(o);
    } else {
        return fail("media: usage: media set ID URL | media list | media rm ID");
    }
    if (rc != VODQ_OK)
        return fail("media: %s", err.msg);
    return 0;
}

/* "N/PER" (100/1m, 5/s, 20/500ms, 3/2h): N >= 1 jobs per PER (1 ms .. 30 days). */
static bool parse_rate(const char *s, long long *n, long long *per)
{
    char *end, buf[40];
    errno = 0;
    *n = strtoll(s, &end, 10);
    if (errno || end == s || *end != '/' || *n < 1 || *n > 1000000000)
        return false;
    const char *d = end + 1;
    if (*d && (*d < '0' || *d > '9')) { /* "5/s" = "5/1s" */
        snprintf(buf, sizeof(buf), "1%.30s", d);
        d = buf;
    }
    size_t len = strlen(d);
    if (len > 2 && !strcmp(d + len - 2, "ms")) {
        errno = 0;
        *per = strtoll(d, &end, 10);
        if (errno || end != d + len - 2)
            return false;
    } else {
        *per = age_ms(d);
    }
    return *per >= 1 && *per <= 30LL * 86400000;
}

/* Prints a hash (HGETALL reply) as "field value" lines or one JSON object with the
 * extra members of `more` (consumed). */
static void print_hash(const struct vodq_reply *r, cJSON *more)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; r && r->type == VODQ_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        cJSON_AddStringToObject(o, r->element[i]->str, r->element[i + 1]->str);
    for (cJSON *m = more ? more->child : NULL; m; m = m->next)
        cJSON_AddItemReferenceToObject(o, m->string, m);
    if (json_out) {
        char *t = cJSON_PrintUnformatted(o);
        puts(t ? t : "{}");
        free(t);
    } else {
        for (cJSON *m = o->child; m; m = m->next) {
            char *t = cJSON_IsString(m) ? NULL : cJSON_PrintUnformatted(m);
            printf("%-12s %s\n", m->string, t ? t : m->valuestring);
            free(t);
        }
    }
    cJSON_Delete(o);
}

/* Wakes the fair lanes (all when lane is NULL) at the scheduler's next tick, so that
 * tokens held back by a cap or rate that was just raised come back (protocol.md §17). */
static void wake_lanes(const char *lane)
{
    char dk[VODQ_KEY_MAX], lk[VODQ_KEY_MAX], m[80];
    struct vodq_err err = {0};
    vodq_queue_key(&Q, dk, sizeof(dk), VODQ_KEY_DELAYED, NULL);
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        const char *l = vodq_task_type_name((enum vodq_task_type)t);
        if (lane && strcmp(lane, l))
            continue;
        vodq_queue_key(&Q, lk, sizeof(lk), VODQ_KEY_LANE, l);
        struct vodq_reply *r = vodq_redis_cmd(R, &err, "HGET %s fair", lk);
        bool fair = r && r->type == VODQ_REPLY_STRING && !strcmp(r->str, "1");
        vodq_reply_free(r);
        snprintf(m, sizeof(m), "#%s", l);
        if (fair)
            vodq_reply_free(vodq_redis_cmd(R, &err, "ZADD %s 0 %s", dk, m));
    }
}

/* Runs "CMD key f1 f2 ..." (HSET, HDEL) when n > 0; false on a Redis error. */
static bool hash_cmd(const char *cmd, const char *key, const char **f, int n)
{
    struct vodq_err err = {0};
    const char *argv[16] = {cmd, key};
    if (n == 0)
        return true;
    for (int i = 0; i < n && i < 14; i++)
        argv[2 + i] = f[i];
    struct vodq_reply *r = vodq_redis_argv(R, 2 + (n < 14 ? n : 14), argv, NULL, &err);
    bool ok = r && r->type != VODQ_REPLY_ERROR;
    vodq_reply_free(r);
    return ok;
}

/* Runs HSET/HDEL on key with the fields collected in set/del; false on a Redis error. */
static bool hset_hdel(const char *key, const char **set, int nset, const char **del, int ndel)
{
    return hash_cmd("HSET", key, set, nset) && hash_cmd("HDEL", key, del, ndel);
}

/* The settings of fair sharing (docs/protocol.md §17), given as flags. */
struct fair_flags {
    const char *weight, *max_running, *rate, *aging_ms;
};

/* --rate: "off" deletes rate/per_ms, N/PER sets them; -1 on a bad value (message out). */
static int rate_fields(const char *rate, const char **set, int *nset, const char **del,
                       int *ndel, char *nbuf, char *pbuf)
{
    if (!rate || !*rate)
        return 0;
    if (!strcmp(rate, "off")) {
        del[(*ndel)++] = "rate";
        del[(*ndel)++] = "per_ms";
        return 0;
    }
    long long n, per;
    if (!parse_rate(rate, &n, &per)) {
        usage_fail("--rate '%s': want N/PER, e.g. 100/1m, 5/s, 20/500ms (or off)", rate);
        return -1;
    }
    snprintf(nbuf, 24, "%lld", n);
    snprintf(pbuf, 24, "%lld", per);
    set[(*nset)++] = "rate";
    set[(*nset)++] = nbuf;
    set[(*nset)++] = "per_ms";
    set[(*nset)++] = pbuf;
    return 0;
}

static bool int_in(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return !errno && end != s && !*end && *out >= lo && *out <= hi;
}

static int cmd_tenant(int argc, char **argv, const struct fair_flags *f)
{
    const char *t = argv[1];
    if (!vodq_tenant_valid(t))
        return usage_fail("tenant: '%s' is not a tenant name (1-64 characters [A-Za-z0-9_.-])", t);
    char key[VODQ_KEY_MAX];
    vodq_queue_key(&Q, key, sizeof(key), VODQ_KEY_TENANT, t);
    struct vodq_err err = {0};
    if (argc == 2 && !strcmp(argv[0], "set")) {
        const char *set[12], *del[6];
        int nset = 0, ndel = 0;
        char nb[24], pb[24], wb[24], mb[24];
        long long v;
        if (f->weight && *f->weight) {
            if (!int_in(f->weight, 1, 1000, &v))
                return usage_fail("--weight '%s': want an integer 1..1000", f->weight);
            snprintf(wb, sizeof(wb), "%lld", v);
            set[nset++] = "weight";
            set[nset++] = wb;
        }
        if (f->max_running && *f->max_running) {
            if (!strcmp(f->max_running, "none")) {
                del[ndel++] = "max_running";
            } else {
                if (!int_in(f->max_running, 0, 1000000, &v))
                    return usage_fail("--max-running '%s': want an integer 0..1000000 or none",
                                      f->max_running);
                snprintf(mb, sizeof(mb), "%lld", v);
                set[nset++] = "max_running";
                set[nset++] = mb;
            }
        }
        if (rate_fields(f->rate, set, &nset, del, &ndel, nb, pb) < 0)
            return 2;
        if (!nset && !ndel)
            return usage_fail("tenant set: give --weight, --max-running or --rate");
        if (!hset_hdel(key, set, nset, del, ndel))
            return fail("tenant set: Redis refused the update");
        wake_lanes(NULL);
        printf("%s: set\n", t);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[0], "rm")) {
        vodq_reply_free(vodq_redis_cmd(R, &err, "DEL %s", key));
        wake_lanes(NULL);
        printf("%s: removed\n", t);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[0], "show")) {
        struct vodq_reply *r = vodq_redis_cmd(R, &err, "HGETALL %s", key);
        if (!r)
            return fail("tenant show: %s", err.msg);
        char rk[VODQ_KEY_MAX];
        vodq_queue_key(&Q, rk, sizeof(rk), VODQ_KEY_RUNNING, NULL);
        cJSON *more = cJSON_CreateObject(), *waiting = cJSON_CreateObject();
        struct vodq_reply *x = vodq_redis_cmd(R, &err, "HGET %s %s", rk, t);
        cJSON_AddNumberToObject(more, "running",
                                x && x->type == VODQ_REPLY_STRING ? atof(x->str) : 0);
        vodq_reply_free(x);
        for (int i = 0; i < VODQ_TASK__COUNT; i++) {
            const char *l = vodq_task_type_name((enum vodq_task_type)i);
            char zk[VODQ_KEY_MAX], suf[200];
            snprintf(suf, sizeof(suf), "%s:%s", l, t);
            vodq_queue_key(&Q, zk, sizeof(zk), VODQ_KEY_READY, suf);
            x = vodq_redis_cmd(R, &err, "ZCARD %s", zk);
            if (x && x->type == VODQ_REPLY_INTEGER && x->integer)
                cJSON_AddNumberToObject(waiting, l, (double)x->integer);
            vodq_reply_free(x);
        }
        cJSON_AddItemToObject(more, "waiting", waiting);
        print_hash(r, more);
        cJSON_Delete(more);
        vodq_reply_free(r);
        return 0;
    }
    return usage_fail("tenant: usage: tenant set T [--weight N] [--max-running N|none] "
                      "[--rate N/PER|off] | tenant show T | tenant rm T");
}

static int cmd_lane(int argc, char **argv, const struct fair_flags *f)
{
    const char *l = argv[1];
    int known = 0;
    for (int i = 0; i < VODQ_TASK__COUNT; i++)
        known |= !strcmp(l, vodq_task_type_name((enum vodq_task_type)i));
    if (!known)
        return usage_fail("lane: unknown lane '%s' (sleep, compose, upload, compose_gpu)", l);
    char key[VODQ_KEY_MAX];
    vodq_queue_key(&Q, key, sizeof(key), VODQ_KEY_LANE, l);
    struct vodq_err err = {0};
    if (argc == 2 && !strcmp(argv[0], "set")) {
        const char *set[12] = {"fair", "1"}, *del[6];
        int nset = 2, ndel = 0;
        char nb[24], pb[24], ab[24];
        long long v;
        if (f->aging_ms && *f->aging_ms) {
            if (!int_in(f->aging_ms, 0, 86400000LL * 30, &v))
                return usage_fail("--aging-ms '%s': want an integer 0..2592000000", f->aging_ms);
            snprintf(ab, sizeof(ab), "%lld", v);
            set[nset++] = "aging_ms";
            set[nset++] = ab;
        }
        if (rate_fields(f->rate, set, &nset, del, &ndel, nb, pb) < 0)
            return 2;
        if (!hset_hdel(key, set, nset, del, ndel))
            return fail("lane set: Redis refused the update");
        wake_lanes(l);
        printf("%s: set\n", l);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[0], "show")) {
        struct vodq_reply *r = vodq_redis_cmd(R, &err, "HGETALL %s", key);
        if (!r)
            return fail("lane show: %s", err.msg);
        char rr[VODQ_KEY_MAX], suf[64];
        snprintf(suf, sizeof(suf), "%s:rr", l);
        vodq_queue_key(&Q, rr, sizeof(rr), VODQ_KEY_LANE, suf);
        cJSON *more = cJSON_CreateObject(), *tenants = cJSON_CreateObject();
        struct vodq_reply *x = vodq_redis_cmd(R, &err, "LRANGE %s 0 999", rr);
        for (size_t i = 0; x && x->type == VODQ_REPLY_ARRAY && i < x->elements; i++) {
            char zk[VODQ_KEY_MAX], zs[200];
            snprintf(zs, sizeof(zs), "%s:%s", l, x->element[i]->str);
            vodq_queue_key(&Q, zk, sizeof(zk), VODQ_KEY_READY, zs);
            struct vodq_reply *c = vodq_redis_cmd(R, &err, "ZCARD %s", zk);
            cJSON_AddNumberToObject(tenants, x->element[i]->str,
                                    c && c->type == VODQ_REPLY_INTEGER ? (double)c->integer : 0);
            vodq_reply_free(c);
        }
        vodq_reply_free(x);
        cJSON_AddItemToObject(more, "waiting", tenants);
        print_hash(r, more);
        cJSON_Delete(more);
        vodq_reply_free(r);
        return 0;
    }
    return usage_fail("lane: usage: lane set L [--rate N/PER|off] [--aging-ms MS] | lane show L");
}

static int cmd_stats(void)
{
    struct vodq_err err = {0};
    char *j = vodq_stats(C, 1000, &err); /* rates over one second */
    if (!j)
        return fail("stats: %s", err.msg);
    if (json_out) {
        printf("%s\n", j);
        free(j);
        return 0;
    }
    cJSON *root = cJSON_Parse(j);
    free(j);
#define N(obj, name) ((long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(obj, name)))
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(root, "types");
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(root, "totals");
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(root, "rates_per_s");
    printf("queue %s\n%-12s %8s %9s\n", Q.name, "lane", "queued", "in_flight");
    for (const cJSON *t = types ? types->child : NULL; t; t = t->next)
        printf("%-12s %8lld %9lld\n", t->string, N(t, "queued"), N(t, "in_flight"));
    printf("delayed %lld, workers %lld\n", N(root, "delayed"), N(root, "workers"));
    printf("totals: submitted %lld, succeeded %lld, dead %lld, cancelled %lld, rejected %lld\n",
           N(tot, "submitted"), N(tot, "succeeded"), N(tot, "dead"), N(tot, "cancelled"),
           N(tot, "rejected"));
    printf("rates (last second): submitted %lld/s, succeeded %lld/s, dead %lld/s\n",
           N(rate, "submitted"), N(rate, "succeeded"), N(rate, "dead"));
    cJSON_Delete(root);
    char *w = vodq_workers(C, &err);
    cJSON *ws = w ? cJSON_Parse(w) : NULL;
    free(w);
    for (const cJSON *it = cJSON_IsArray(ws) ? ws->child : NULL; it; it = it->next) {
        const cJSON *info = cJSON_GetObjectItemCaseSensitive(it, "info");
        char *itxt = cJSON_IsString(info) ? NULL : cJSON_PrintUnformatted(info);
        printf("worker %s (beat %lld ms ago) %s\n",
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "id")),
               N(it, "beat_ms_ago"),
               cJSON_IsString(info) ? info->valuestring : cJSON_IsNull(info) || !itxt ? "" : itxt);
        cJSON_free(itxt);
    }
#undef N
    cJSON_Delete(ws);
    return 0;
}

static int cmd_session(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[0], "show") && strcmp(argv[0], "release")))
        return fail("session: usage: session show S | session release S [--delete-exports]");
    const char *sid = argv[1];
    struct vodq_err err = {0};
    if (!strcmp(argv[0], "release")) {
        int n = 0;
        char **exports = NULL;
        if (vodq_session_release_exports(C, sid, &n, delete_exports ? &exports : NULL, &err) !=
            VODQ_OK)
            return fail("session release %s: %s", sid, err.msg);
        int rc = 0, deleted = 0;
        for (size_t i = 0; exports && exports[i]; i++) {
            if (unlink(exports[i]) == 0)
                deleted++;
            else if (errno != ENOENT)
                rc = fail("session release %s: cannot delete %s: %s", sid, exports[i],
                          strerror(errno));
            free(exports[i]);
        }
        free(exports);
        if (json_out)
            printf("{\"session\":\"%s\",\"released\":true,\"cancelled\":%d,\"deleted\":%d}\n", sid,
                   n, deleted);
        else
            printf("session %s released: %d job(s) cancelled, %d export(s) deleted\n", sid, n,
                   deleted);
        return rc;
    }
    char *j = vodq_session_get(C, sid, &err);
    if (!j)
        return fail("session show %s: %s", sid, err.msg);
    if (json_out) {
        printf("%s\n", j);
    } else {
        char last[4096] = "", job[VODQ_ID_MAX + 1] = "";
        vodq_json_get_string(j, "last_export", last, sizeof(last));
        vodq_json_get_string(j, "last_export_job", job, sizeof(job));
        printf("session %s: last export %s (job %s, #%.0f), %.0f job(s)\n", sid,
               last[0] ? last : "(none)", job[0] ? job : "-",
               vodq_json_get_number(j, "last_export_seq", 0), vodq_json_get_number(j, "jobs", 0));
        printf("%s\n", strstr(j, "\"jobs_list\"") ? strstr(j, "\"jobs_list\"") : "");
    }
    free(j);
    return 0;
}

int main(int argc, char **argv)
{
    char *redis_url = NULL, *queue = NULL, *state = NULL, *secret_key_file = NULL, *bulk = NULL;
    char *older = NULL;
    char *weight = NULL, *max_running = NULL, *rate = NULL, *aging = NULL;
    char *catch_up = NULL;
    char *redis_ca = NULL, *redis_cert = NULL, *redis_key = NULL;
    long long limit = 0, events_maxlen = 0, retention_s = 0;
    const struct vodq_opt opts[] = {
        {"redis", "VODQ_REDIS_URL", VODQ_OPT_STR, "redis://127.0.0.1:6379", VODQ_REDIS_URL_HELP,
         &redis_url, 0, 0},
        VODQ_REDIS_TLS_OPTS(&redis_ca, &redis_cert, &redis_key),
        {"queue", "VODQ_QUEUE", VODQ_OPT_STR, "default", "queue name", &queue, 0, 0},
        {"json", NULL, VODQ_OPT_BOOL, "", "JSON output for scripts", &json_out, 0, 0},
        {"delete-exports", NULL, VODQ_OPT_BOOL, "",
         "session release: also delete the session's exported files (from this host)",
         &delete_exports, 0, 0},
        {"state", NULL, VODQ_OPT_STR, "", "list: only jobs in this state", &state, 0, 0},
        {"older-than", NULL, VODQ_OPT_STR, "", "purge: jobs that ended more than this ago (7d)",
         &older, 0, 0},
        {"bulk", NULL, VODQ_OPT_STR, "", "submit: a file of specs, one per line ('-': stdin)",
         &bulk, 0, 0},
        {"weight", NULL, VODQ_OPT_STR, "", "tenant set: share of a busy lane (1..1000)", &weight,
         0, 0},
        {"max-running", NULL, VODQ_OPT_STR, "",
         "tenant set: jobs of the tenant running at once ('none': no cap)", &max_running, 0, 0},
        {"rate", NULL, VODQ_OPT_STR, "",
         "tenant set, lane set: jobs started per interval, N/PER (100/1m; 'off')", &rate, 0, 0},
        {"aging-ms", NULL, VODQ_OPT_STR, "",
         "lane set: the waiting one priority level is worth (default 60000)", &aging, 0, 0},
        {"catch-up", NULL, VODQ_OPT_STR, "latest",
         "schedule add: missed slots after downtime: latest (fire the newest once), all, none",
         &catch_up, 0, 0},
        {"limit", NULL, VODQ_OPT_INT, "1000", "list: at most this many jobs", &limit, 1,
         100000000},
        {"events-maxlen", "VODQ_EVENTS_MAXLEN", VODQ_OPT_INT, "100000",
         "approximate length cap of the events stream (as the scheduler's)", &events_maxlen, 100,
         100000000},
        {"retention-s", "VODQ_RETENTION_S", VODQ_OPT_INT, "604800",
         "seconds a finished job hash is kept (as the scheduler's)", &retention_s, 1, 315360000},
        {"secret-key-file", "VODQ_SECRET_KEY_FILE", VODQ_OPT_STR, "",
         "keyring: submit and refresh-auth seal credentials before they reach Redis",
         &secret_key_file, 0, 0},
    };
    int n = (int)(sizeof(opts) / sizeof(opts[0]));
    int npos = 0;
    bool help = false;
    struct vodq_err err = {0};
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--version")) {
            printf("vodqctl %s\n", vodq_version());
            return 0;
        }
    int rc;
    if (vodq_config_load(opts, n, argc, argv, &npos, &help, &err) != VODQ_OK) {
        fprintf(stderr, "vodqctl: %s\n", err.msg);
        rc = 2;
        goto out;
    }
    if (help || npos == 0) {
        vodq_config_usage(help ? stdout : stderr, "vodqctl", synopsis, description, opts, n);
        rc = help ? 0 : 2;
        goto out;
    }
    if (state && *state && vodq_job_state_parse(state) == VODQ_JOB__COUNT) {
        rc = usage_fail("--state '%s': unknown state (submitted, queued, active, paused, "
                    "waiting_auth, waiting_session, waiting_members, delayed, succeeded, dead, "
                    "cancelled, rejected)",
                    state);
        goto out;
    }
    /* usage errors are found before connecting: exit 2 even without Redis */
    static const struct {
        const char *name, *args; /* args: what it needs, for the message */
        int min_args;
    } commands[] = {{"submit", "FILE|-", 0}, {"status", "ID", 1},     {"watch", "ID", 1},
                    {"list", "", 0},         {"pause", "ID", 1},      {"resume", "ID", 1},
                    {"cancel", "ID", 1},     {"retry", "ID", 1},      {"refresh-auth", "ID AUTH|-", 2},
                    {"dead", "list", 1}, {"remove", "ID...", 1}, {"purge", "--state S --older-than AGE", 0},     {"stats", "", 0},
                    {"session", "show|release S", 2}, {"media", "set|list|rm ...", 1},
                    {"tenant", "set|show|rm T", 2}, {"lane", "set|show L", 2},
                    {"schedule", "add|list|remove ...", 1}, {"functions", "name|print|eval S", 1}};
    size_t k = 0, nk = sizeof(commands) / sizeof(commands[0]);
    while (k < nk && strcmp(commands[k].name, argv[1]))
        k++;
    if (k == nk) {
        rc = usage_fail("unknown command '%s'", argv[1]);
        goto out;
    }
    if (npos - 1 < commands[k].min_args) {
        rc = usage_fail("usage: %s %s", commands[k].name, commands[k].args);
        goto out;
    }
    long long purge_ms = -1;
    if (!strcmp(argv[1], "purge") && (purge_ms = purge_age(state, older)) < 0) {
        rc = 2;
        goto out;
    }
    if (!strcmp(argv[1], "schedule") && (rc = schedule_usage(npos - 1, argv + 2)) != 0)
        goto out;
    if (!strcmp(argv[1], "functions")) { /* needs no Redis */
        const char *name = NULL;
        const char *text = vodq_proto_library(&name);
        if (npos == 2 && !strcmp(argv[2], "name"))
            rc = printf("%s\n", name) < 0;
        else if (npos == 2 && !strcmp(argv[2], "print"))
            rc = fputs(text, stdout) < 0;
        else if (npos == 3 && !strcmp(argv[2], "eval")) {
            int i = 0;
            while (i < VODQ_LUA__COUNT && strcmp(vodq_proto_script(i)->name, argv[3]))
                i++;
            rc = i < VODQ_LUA__COUNT ? fputs(vodq_proto_script(i)->body, stdout) < 0
                                     : usage_fail("functions eval: no script '%s'", argv[3]);
        } else
            rc = usage_fail("usage: functions name|print|eval SCRIPT");
        goto out;
    }
    struct vodq_client_opts o = {.size = sizeof(o),
                                 .redis_url = redis_url,
                                 .queue = queue,
                                 .tls_ca_file = redis_ca,
                                 .tls_cert_file = redis_cert,
                                 .tls_key_file = redis_key,
                                 .secret_key_file = secret_key_file,
                                 .events_maxlen = events_maxlen,
                                 .retention_s = retention_s};
    if (!(C = vodq_client_open_opts(&o, &err))) {
        rc = fail("%s", err.msg);
        goto out;
    }
    if (vodq_client_warning(C))
        fprintf(stderr, "vodqctl: warning: %s\n", vodq_client_warning(C));
    R = C->r;
    Q = C->q;
    const char *cmd = argv[1];
    int cargc = npos - 1;
    char **cargv = argv + 2;
    struct vodq_job_defaults d = {3, 1000, 600000, 1 << 20};
    struct fair_flags ff = {weight, max_running, rate, aging};
    if (!strcmp(cmd, "submit"))
        rc = cmd_submit(cargc, cargv, &d, bulk);
    else if (!strcmp(cmd, "status"))
        rc = cmd_status(cargc, cargv);
    else if (!strcmp(cmd, "watch"))
        rc = cmd_watch(cargc, cargv, redis_url);
    else if (!strcmp(cmd, "list"))
        rc = cmd_list(cargc, cargv, state, limit);
    else if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume") || !strcmp(cmd, "cancel") ||
             !strcmp(cmd, "retry"))
        rc = cmd_control(cmd, cargc, cargv);
    else if (!strcmp(cmd, "refresh-auth"))
        rc = cmd_control("refresh_auth", cargc, cargv);
    else if (!strcmp(cmd, "remove"))
        rc = cmd_remove(cargc, cargv);
    else if (!strcmp(cmd, "purge"))
        rc = cmd_purge(state, older, purge_ms);
    else if (!strcmp(cmd, "dead"))
        rc = cmd_dead(cargc, cargv);
    else if (!strcmp(cmd, "stats"))
        rc = cmd_stats();
    else if (!strcmp(cmd, "session"))
        rc = cmd_session(cargc, cargv);
    else if (!strcmp(cmd, "media"))
        rc = cmd_media(cargc, cargv);
    else if (!strcmp(cmd, "tenant"))
        rc = cmd_tenant(cargc, cargv, &ff);
    else if (!strcmp(cmd, "lane"))
        rc = cmd_lane(cargc, cargv, &ff);
    else if (!strcmp(cmd, "schedule"))
        rc = cmd_schedule(cargc, cargv, catch_up, &d);
    else
        rc = usage_fail("unknown command '%s'", cmd);
out:
    vodq_client_close(C);
    vodq_config_free(opts, n);
    return rc;
}
