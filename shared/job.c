/* job.c: job states, spec validation, ids and backoff. */
#include "shared/job.h"

#include "vodq/vodq.h"

#include <cjson/cJSON.h>

#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static const char *state_names[VODQ_JOB__COUNT] = {
    "submitted", "queued", "active", "paused", "waiting_auth", "waiting_session",
    "delayed",   "succeeded", "dead", "cancelled", "rejected", "waiting_members",
};

const char *vodq_job_state_name(enum vodq_job_state s)
{
    return (int)s >= 0 && s < VODQ_JOB__COUNT ? state_names[s] : NULL;
}

enum vodq_job_state vodq_job_state_parse(const char *name)
{
    for (int i = 0; name && i < VODQ_JOB__COUNT; i++)
        if (!strcmp(name, state_names[i]))
            return (enum vodq_job_state)i;
    return VODQ_JOB__COUNT;
}

bool vodq_job_state_terminal(enum vodq_job_state s)
{
    return s == VODQ_JOB_SUCCEEDED || s == VODQ_JOB_DEAD || s == VODQ_JOB_CANCELLED ||
           s == VODQ_JOB_REJECTED;
}

static const char *type_names[VODQ_TASK__COUNT] = {"sleep", "compose", "upload", "compose_gpu"};

const char *vodq_task_type_name(enum vodq_task_type t)
{
    return (int)t >= 0 && t < VODQ_TASK__COUNT ? type_names[t] : NULL;
}

enum vodq_task_type vodq_task_type_parse(const char *name)
{
    for (int i = 0; name && i < VODQ_TASK_COMPOSE_GPU; i++)
        if (!strcmp(name, type_names[i]))
            return (enum vodq_task_type)i;
    return VODQ_TASK__COUNT;
}

const char *vodq_task_section(enum vodq_task_type t)
{
    return t == VODQ_TASK_COMPOSE_GPU ? type_names[VODQ_TASK_COMPOSE] : vodq_task_type_name(t);
}

const char *vodq_job_spec_type_name(const struct vodq_job_spec *s)
{
    return s->group ? "group" : vodq_task_type_name(s->type);
}

const char *vodq_job_spec_lane_name(const struct vodq_job_spec *s)
{
    return s->group ? "group" : vodq_task_type_name(s->lane);
}

bool vodq_job_tag_known(const char *tag, bool *gpu)
{
    static const char *const tags[] = {"nvenc", "nvdec", "cuda_filters", "vaapi", "qsv",
                                       "x264",  "x265"};
    for (size_t i = 0; i < sizeof(tags) / sizeof(*tags); i++)
        if (tag && !strcmp(tag, tags[i])) {
            if (gpu)
                *gpu = i < 5;
            return true;
        }
    return false;
}

/* Adds tag to the comma list req (cap bytes) unless it is there. */
static void require_add(char *req, size_t cap, const char *tag)
{
    size_t n = strlen(tag), l = strlen(req);
    for (const char *p = req; *p;) {
        const char *c = strchr(p, ',');
        size_t k = c ? (size_t)(c - p) : strlen(p);
        if (k == n && !strncmp(p, tag, n))
            return;
        p += k + (c ? 1 : 0);
    }
    if (l + n + 2 <= cap)
        snprintf(req + l, cap - l, "%s%s", l ? "," : "", tag);
}

/* compose.require: an array of known tags; fills out->require (with the tags the
 * encoder implies) and tells whether the job needs a GPU. */
static enum vodq_rc compose_require(const cJSON *sec, struct vodq_job_spec *out, bool *gpu,
                                    struct vodq_err *err)
{
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(sec, "require");
    if (req && !cJSON_IsNull(req)) {
        if (!cJSON_IsArray(req) || cJSON_GetArraySize(req) > 7)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "compose.require: must be an array of capability tags");
        int i = 0;
        for (const cJSON *t = req->child; t; t = t->next, i++) {
            bool g = false;
            if (!cJSON_IsString(t) || !vodq_job_tag_known(t->valuestring, &g))
                return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                    "compose.require[%d]: unknown tag (known: nvenc, nvdec, "
                                    "cuda_filters, vaapi, qsv, x264, x265)",
                                    i);
            *gpu |= g;
            require_add(out->require, sizeof(out->require), t->valuestring);
        }
    }
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(sec, "encoder");
    if (!cJSON_IsString(enc)) {
        const cJSON *tl = cJSON_GetObjectItemCaseSensitive(sec, "timeline");
        enc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tl, "output"),
                                               "encoder");
    }
    /* "gpu": true, or a GPU encoder (in the section or the inline timeline's output) */
    *gpu |= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sec, "gpu"));
    static const char *const gpu_enc[] = {"nvenc", "vaapi", "qsv"};
    for (int i = 0; i < 3; i++)
        if (cJSON_IsString(enc) && strstr(enc->valuestring, gpu_enc[i])) {
            *gpu = true;
            require_add(out->require, sizeof(out->require), gpu_enc[i]);
        }
    return VODQ_OK;
}


bool vodq_job_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > VODQ_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

bool vodq_tenant_valid(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '_' && t[i] != '.' && t[i] != '-')
            return false;
    return true;
}

int64_t vodq_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void vodq_job_id_new(char *buf, size_t cap)
{
    static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";
    unsigned char rnd[10];
    /* one system call (no open/read/close of /dev/urandom): bulk submit makes 100k/s */
    ssize_t got = getrandom(rnd, sizeof(rnd), 0);
    if (got != (ssize_t)sizeof(rnd))
        for (size_t i = 0; i < sizeof(rnd); i++)
            rnd[i] = (unsigned char)rand();
    uint64_t t = (uint64_t)vodq_now_ms();
    char out[27];
    for (int i = 9; i >= 0; i--) { /* 10 chars of time: sortable */
        out[i] = b32[t & 31];
        t >>= 5;
    }
    for (int i = 0; i < 16; i++) /* 16 chars of randomness (80 bits) */
        out[10 + i] = b32[(rnd[(i * 5) / 8] >> ((i * 5) % 8) | rnd[((i * 5) / 8 + 1) % 10] << (8 - (i * 5) % 8)) & 31];
    out[26] = '\0';
    snprintf(buf, cap, "%s", out);
}

static enum vodq_rc get_int(const cJSON *obj, const char *key, const char *path, int64_t lo,
                            int64_t hi, int64_t *out, struct vodq_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v))
        return VODQ_OK; /* keep the default */
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: must be an integer %lld..%lld", path,
                            (long long)lo, (long long)hi);
    *out = (int64_t)v->valuedouble;
    return VODQ_OK;
}

static const char *top_keys[] = {"version", "id", "type", "session", "max_attempts", "timeout_ms",
                                 "backoff", "sleep", "compose", "upload", "meta", "then",
                                 "delay_ms", "run_at", "notify_url", "group", "priority",
                                 "tenant", NULL};

/* "notify_url": where the scheduler POSTs the job when it ends (docs/protocol.md §14):
 * http(s)://host[:port][/path], no credentials in it, at most 1024 characters. Which
 * hosts are allowed is the scheduler's --webhook-allow, checked at delivery. */
static enum vodq_rc get_notify_url(const cJSON *root, struct vodq_job_spec *out,
                                   struct vodq_err *err)
{
    out->notify_url[0] = '\0';
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "notify_url");
    if (!u || cJSON_IsNull(u))
        return VODQ_OK;
    if (!cJSON_IsString(u))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "notify_url: must be a string");
    const char *s = u->valuestring;
    size_t scheme = !strncmp(s, "http://", 7) ? 7 : !strncmp(s, "https://", 8) ? 8 : 0;
    if (!scheme)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "notify_url: must start with http:// or https://");
    if (strlen(s) >= sizeof(out->notify_url))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "notify_url: longer than %zu characters",
                            sizeof(out->notify_url) - 1);
    size_t host_len = strcspn(s + scheme, "/?#");
    if (host_len == 0 || strcspn(s + scheme, "/?#:") == 0)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "notify_url: missing host");
    if (memchr(s + scheme, '@', host_len))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "notify_url: must not carry credentials (user@host)");
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "notify_url: spaces and control characters are not allowed");
    snprintf(out->notify_url, sizeof(out->notify_url), "%s", s);
    return VODQ_OK;
}

#define GROUP_MAX_JOBS 100 /* members of one group */
#define NEST_MAX 8         /* levels of then and group below a submitted spec */

static enum vodq_rc validate(cJSON *root, const struct vodq_job_defaults *d,
                             struct vodq_job_spec *out, struct vodq_err *err);

/* Validates the spec child (a member of a group or a job of "then") one level below
 * parent, with session (or none) set for the check only, and writes the lane and
 * capability tags it needs into it (the Lua scripts that create it read and remove them).
 * what: "then" or "group.jobs", for the JSON path of an error. */
static enum vodq_rc validate_child(cJSON *child, const struct vodq_job_defaults *d,
                                   const struct vodq_job_spec *parent, const char *session,
                                   const char *what, int i, struct vodq_err *err)
{
    struct vodq_job_spec sub;
    memset(&sub, 0, sizeof(sub));
    sub.depth = parent->depth + 1;
    if (sub.depth > NEST_MAX)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s[%d]: nested more than %d levels deep",
                            what, i, NEST_MAX);
    /* "lane" is ours (written below); a spec normalised here comes back through
     * the submit stream with it */
    if (cJSON_IsObject(child)) {
        cJSON_DeleteItemFromObjectCaseSensitive(child, "lane");
        cJSON_DeleteItemFromObjectCaseSensitive(child, "require");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(child, "type");
        if (session && !strcmp(session, "_") && cJSON_IsString(ct) &&
            !strcmp(ct->valuestring, "group"))
            session = NULL; /* its members get no file from a parent */
        if (session)
            cJSON_AddStringToObject(child, "session", session);
    }
    enum vodq_rc rc = validate(child, d, &sub, err);
    if (cJSON_IsObject(child))
        cJSON_DeleteItemFromObjectCaseSensitive(child, "session");
    if (rc != VODQ_OK) {
        vodq_err_prefix(err, "%s[%d]", what, i);
        return rc;
    }
    cJSON_AddStringToObject(child, "lane", sub.group ? "group" : vodq_task_type_name(sub.lane));
    cJSON_AddStringToObject(child, "require", sub.require);
    return VODQ_OK;
}

/* The "group" section: {"jobs": [spec, ...], "fail_fast": bool, "then_on": "succeeded" |
 * "all_ended"}. Members are specs without id and session (they get <group>.<i> and the
 * group's session). */
static enum vodq_rc validate_group(cJSON *sec, const struct vodq_job_defaults *d,
                                   struct vodq_job_spec *out, struct vodq_err *err)
{
    for (const cJSON *it = sec->child; it; it = it->next)
        if (strcmp(it->string, "jobs") && strcmp(it->string, "fail_fast") &&
            strcmp(it->string, "then_on"))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "group.%s: unknown field (allowed: jobs, fail_fast, then_on)",
                                it->string);
    const cJSON *ff = cJSON_GetObjectItemCaseSensitive(sec, "fail_fast");
    if (ff && !cJSON_IsBool(ff))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "group.fail_fast: must be true or false");
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(sec, "then_on");
    if (on && (!cJSON_IsString(on) || (strcmp(on->valuestring, "succeeded") &&
                                       strcmp(on->valuestring, "all_ended"))))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "group.then_on: must be \"succeeded\" or \"all_ended\"");
    cJSON *jobs = cJSON_GetObjectItemCaseSensitive(sec, "jobs");
    if (!cJSON_IsArray(jobs) || cJSON_GetArraySize(jobs) < 1 ||
        cJSON_GetArraySize(jobs) > GROUP_MAX_JOBS)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "group.jobs: must be an array of 1-%d job specs", GROUP_MAX_JOBS);
    int i = 0;
    for (cJSON *m = jobs->child; m; m = m->next, i++) {
        if (cJSON_IsObject(m) && (cJSON_GetObjectItemCaseSensitive(m, "id") ||
                                  cJSON_GetObjectItemCaseSensitive(m, "session")))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "group.jobs[%d]: id and session are set by the group", i);
        enum vodq_rc rc = validate_child(m, d, out, out->session[0] ? out->session : NULL,
                                         "group.jobs", i, err);
        if (rc != VODQ_OK)
            return rc;
    }
    return VODQ_OK;
}

static enum vodq_rc validate(cJSON *root, const struct vodq_job_defaults *d,
                             struct vodq_job_spec *out, struct vodq_err *err)
{
    if (!cJSON_IsObject(root))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "spec: must be a JSON object");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (id && !cJSON_IsNull(id)) {
        if (!cJSON_IsString(id) || !vodq_job_id_valid(id->valuestring))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "id: must be a string of 1-128 characters [A-Za-z0-9_.:-]");
        snprintf(out->id, sizeof(out->id), "%s", id->valuestring);
        out->id_given = true;
    }
    int64_t version = VODQ_SPEC_VERSION;
    enum vodq_rc rc;
    if ((rc = get_int(root, "version", "version", 1, 1, &version, err)) != VODQ_OK)
        return rc;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (!type)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "type: missing (sleep, compose, upload or group)");
    if (!cJSON_IsString(type))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "type: must be a string");
    out->type = vodq_task_type_parse(type->valuestring);
    out->group = !strcmp(type->valuestring, "group");
    if (out->type == VODQ_TASK__COUNT && !out->group)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "type: unknown task type '%.64s' (sleep, compose, upload or group)",
                            type->valuestring);
    for (const cJSON *it = root->child; it; it = it->next) {
        bool known = false;
        for (int i = 0; top_keys[i]; i++)
            known |= !strcmp(it->string, top_keys[i]);
        if (!known)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "%s: unknown field (allowed: version, id, type, session, "
                                "max_attempts, timeout_ms, backoff, sleep, compose, upload, group, "
                                "meta, then, delay_ms, run_at, notify_url, priority, tenant)",
                                it->string);
    }
    const cJSON *session = cJSON_GetObjectItemCaseSensitive(root, "session");
    if (session && !cJSON_IsNull(session)) {
        if (!cJSON_IsString(session) || !vodq_job_id_valid(session->valuestring))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "session: must be a string of 1-128 characters [A-Za-z0-9_.:-]");
        snprintf(out->session, sizeof(out->session), "%s", session->valuestring);
    }
    /* fair claiming (docs/protocol.md §17): read again by create_job from the spec */
    const cJSON *tenant = cJSON_GetObjectItemCaseSensitive(root, "tenant");
    out->tenant[0] = '\0';
    if (tenant && !cJSON_IsNull(tenant)) {
        if (!cJSON_IsString(tenant) || !vodq_tenant_valid(tenant->valuestring))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "tenant: must be a string of 1-64 characters [A-Za-z0-9_.-]");
        snprintf(out->tenant, sizeof(out->tenant), "%s", tenant->valuestring);
    }
    int64_t prio = 0;
    if ((rc = get_int(root, "priority", "priority", 0, 9, &prio, err)) != VODQ_OK)
        return rc;
    out->priority = (int)prio;
    int64_t v = d->max_attempts;
    if ((rc = get_int(root, "max_attempts", "max_attempts", 1, 1000, &v, err)) != VODQ_OK)
        return rc;
    out->max_attempts = (int)v;
    /* a job created delayed: run_at (ms since the epoch) and/or delay_ms (from creation,
     * by the Redis clock); the later of the two wins */
    out->run_at_ms = out->delay_ms = 0;
    if ((rc = get_int(root, "delay_ms", "delay_ms", 0, 366 * 86400000LL, &out->delay_ms, err)) !=
            VODQ_OK ||
        (rc = get_int(root, "run_at", "run_at", 0, 253402300799999LL, &out->run_at_ms, err)) !=
            VODQ_OK)
        return rc;
    if ((rc = get_notify_url(root, out, err)) != VODQ_OK)
        return rc;
    out->timeout_ms = 0;
    if ((rc = get_int(root, "timeout_ms", "timeout_ms", 0, 7 * 86400000LL, &out->timeout_ms,
                      err)) != VODQ_OK)
        return rc;
    out->backoff_base_ms = d->backoff_base_ms;
    out->backoff_max_ms = d->backoff_max_ms;
    const cJSON *bo = cJSON_GetObjectItemCaseSensitive(root, "backoff");
    if (bo && !cJSON_IsNull(bo)) {
        if (!cJSON_IsObject(bo))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "backoff: must be an object");
        if ((rc = get_int(bo, "base_ms", "backoff.base_ms", 0, 86400000, &out->backoff_base_ms,
                          err)) != VODQ_OK ||
            (rc = get_int(bo, "max_ms", "backoff.max_ms", 0, 7 * 86400000LL, &out->backoff_max_ms,
                          err)) != VODQ_OK)
            return rc;
    }
    if (out->group && (cJSON_GetObjectItemCaseSensitive(root, "delay_ms") ||
                       cJSON_GetObjectItemCaseSensitive(root, "run_at") ||
                       cJSON_GetObjectItemCaseSensitive(root, "timeout_ms")))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "group: delay_ms, run_at and timeout_ms are for its members");
    const char *tname = out->group ? "group" : vodq_task_type_name(out->type);
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, tname);
    if (!sec)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: missing (the %s task's parameters)",
                            tname, tname);
    if (!cJSON_IsObject(sec))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: must be an object", tname);
    out->lane = out->type;
    if (out->type == VODQ_TASK_COMPOSE) {
        bool gpu = false;
        if ((rc = compose_require(sec, out, &gpu, err)) != VODQ_OK)
            return rc;
        if (gpu)
            out->lane = VODQ_TASK_COMPOSE_GPU;
    }
    static const char *const sections[] = {"sleep", "compose", "upload", "group"};
    for (size_t t = 0; t < sizeof(sections) / sizeof(*sections); t++) {
        const char *other = sections[t];
        if (strcmp(other, tname) && cJSON_GetObjectItemCaseSensitive(root, other))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "%s: not allowed in a job of type %s", other, tname);
    }
    if (out->group) {
        if ((rc = validate_group((cJSON *)sec, d, out, err)) != VODQ_OK)
            return rc;
    } else if (out->type == VODQ_TASK_SLEEP) {
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(sec, "ms");
        if (!ms || cJSON_IsNull(ms))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "sleep.ms: missing");
        int64_t x = 0;
        if ((rc = get_int(sec, "ms", "sleep.ms", 0, 86400000, &x, err)) != VODQ_OK ||
            (rc = get_int(sec, "fail_times", "sleep.fail_times", 0, 1000, &x, err)) != VODQ_OK)
            return rc;
        for (const cJSON *it = sec->child; it; it = it->next)
            if (strcmp(it->string, "ms") && strcmp(it->string, "fail_times") &&
                strcmp(it->string, "permanent") && strcmp(it->string, "output"))
                return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                    "sleep.%s: unknown field (allowed: ms, fail_times, permanent, "
                                    "output)",
                                    it->string);
        const cJSON *so = cJSON_GetObjectItemCaseSensitive(sec, "output");
        if (so && (!cJSON_IsString(so) || strchr(so->valuestring, '"') ||
                   strchr(so->valuestring, '\\')))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "sleep.output: must be a string without quotes or backslashes");
    } else if (out->type == VODQ_TASK_UPLOAD) {
        const cJSON *vod = cJSON_GetObjectItemCaseSensitive(sec, "vod");
        const cJSON *s3 = cJSON_GetObjectItemCaseSensitive(sec, "s3");
        if (!vod && !s3)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "upload: needs a target, upload.vod or upload.s3");
        const cJSON *file = cJSON_GetObjectItemCaseSensitive(sec, "file");
        if (file && !cJSON_IsString(file))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "upload.file: must be a string path");
        if (!file && !out->session[0])
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "upload.file: missing (or give a session to upload its last export)");
    } else if (out->type == VODQ_TASK_COMPOSE) {
        const cJSON *tl = cJSON_GetObjectItemCaseSensitive(sec, "timeline");
        const cJSON *tf = cJSON_GetObjectItemCaseSensitive(sec, "timeline_file");
        const cJSON *ali = cJSON_GetObjectItemCaseSensitive(sec, "aliyun_timeline");
        if (!tl && !tf && !ali)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "compose.timeline: missing (or compose.timeline_file, "
                                "compose.aliyun_timeline)");
        if (ali && !cJSON_IsObject(ali) && !cJSON_IsString(ali))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "compose.aliyun_timeline: must be an object or a JSON string");
        /* vodq-compose's file options: a job names no files for the worker to read
         * beyond its timeline and media */
        if (cJSON_GetObjectItemCaseSensitive(sec, "media_map_file") ||
            cJSON_GetObjectItemCaseSensitive(sec, "output_media_config_file"))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "compose: media_map_file and output_media_config_file are "
                                "vodq-compose options; give media_map / output_media_config");
        if ((tl != NULL) + (tf != NULL) + (ali != NULL) > 1)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "compose: give one of timeline, timeline_file, aliyun_timeline");
        if (tl && !cJSON_IsObject(tl))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "compose.timeline: must be an object");
        if (tf && !cJSON_IsString(tf))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "compose.timeline_file: must be a string");
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(sec, "output");
        const cJSON *up = cJSON_GetObjectItemCaseSensitive(sec, "upload");
        if (up && (!cJSON_IsObject(up) || (!cJSON_GetObjectItemCaseSensitive(up, "vod") &&
                                           !cJSON_GetObjectItemCaseSensitive(up, "s3"))))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "compose.upload: needs a target, compose.upload.vod or "
                                "compose.upload.s3 (render and upload in one task)");
        if (up && o)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "compose.output: not used with compose.upload (the render is "
                                "uploaded from a temporary file)");
        if (!up && (!o || !cJSON_IsString(o) || !o->valuestring[0]))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "compose.output: missing (the path of the finished video, or "
                                "compose.upload to upload it)");
    }
    /* "then": jobs created when this one succeeds (compose -> upload of
     * its export); each is a spec of its own, without id or session (it
     * inherits the session, and an upload without file takes the parent's
     * output; "file":"$cover" takes the parent's cover image). */
    const cJSON *then = cJSON_GetObjectItemCaseSensitive(root, "then");
    /* a compose with "upload" sends its render from a temporary file that is
     * gone when it succeeds (and a child may run on another machine): it
     * leaves no export and no cover file for a child upload to take */
    bool no_export = out->type == VODQ_TASK_COMPOSE && sec &&
                     cJSON_GetObjectItemCaseSensitive(sec, "upload") != NULL;
    if (then && !cJSON_IsNull(then)) {
        if (!cJSON_IsArray(then) || cJSON_GetArraySize(then) > 16)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "then: must be an array of at most 16 job specs");
        int i = 0;
        for (cJSON *child = then->child; child; child = child->next, i++) {
            if (cJSON_IsObject(child) && (cJSON_GetObjectItemCaseSensitive(child, "id") ||
                                          cJSON_GetObjectItemCaseSensitive(child, "session"))) {
                return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                    "then[%d]: id and session are set by the parent job", i);
            }
            if (cJSON_IsObject(child) && (cJSON_GetObjectItemCaseSensitive(child, "delay_ms") ||
                                          cJSON_GetObjectItemCaseSensitive(child, "run_at")))
                return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                    "then[%d]: delay_ms and run_at are for submitted jobs only "
                                    "(a then job starts when its parent succeeds)", i);
            if (cJSON_IsObject(child) && cJSON_GetObjectItemCaseSensitive(child, "notify_url"))
                return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                    "then[%d]: notify_url is for submitted jobs only", i);
            const cJSON *ct = cJSON_GetObjectItemCaseSensitive(child, "type");
            const cJSON *cu = cJSON_GetObjectItemCaseSensitive(child, "upload");
            const cJSON *cf = cJSON_GetObjectItemCaseSensitive(cu, "file");
            if (no_export && cJSON_IsString(ct) && !strcmp(ct->valuestring, "upload") &&
                cJSON_IsObject(cu) &&
                (!cf || (cJSON_IsString(cf) && !strcmp(cf->valuestring, "$cover"))))
                return vodq_err_set(
                    err, VODQ_ERR_INVALID, 0,
                    "then[%d].upload.file: %s; the parent's compose.upload uploads the render "
                    "from a temporary file it removes: give a file, or render to "
                    "compose.output and upload that here",
                    i, cf ? "\"$cover\" has no file (compose.upload.cover uploads it)"
                          : "missing, and compose.upload leaves no export");
            /* an upload without "file" takes the parent's output ("_": any session will
             * do for the check); a group's then jobs name theirs ("$member:N") */
            const char *sess = out->session[0] ? out->session : out->group ? NULL : "_";
            if ((rc = validate_child(child, d, out, sess, "then", i, err)) != VODQ_OK)
                return rc;
        }
    }
    return VODQ_OK;
}

enum vodq_rc vodq_job_spec_parse(const char *text, size_t len, const struct vodq_job_defaults *d,
                                 struct vodq_job_spec *out, struct vodq_err *err)
{
    memset(out, 0, sizeof(*out));
    if (len > d->max_spec_bytes)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "spec: %zu bytes is over the limit of %zu",
                            len, d->max_spec_bytes);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    while (root && end < text + len && strchr(" \t\r\n", *end) && *end)
        end++;
    if (root && end < text + len && *end != '\0') { /* bytes after the value */
        cJSON_Delete(root);
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "spec: not valid JSON (text after the object at byte %ld)",
                            (long)(end - text));
    }
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= text && at <= text + len ? (long)(at - text) : -1;
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "spec: not valid JSON (near byte %ld)", off);
    }
    enum vodq_rc rc = validate(root, d, out, err);
    if (rc == VODQ_OK) {
        if (!out->id_given) {
            /* "id": null means "make one": replace it, so the spec keeps one "id" */
            cJSON_DeleteItemFromObjectCaseSensitive(root, "id");
            vodq_job_id_new(out->id, sizeof(out->id));
            cJSON_AddStringToObject(root, "id", out->id);
        }
        out->json = cJSON_PrintUnformatted(root);
        if (!out->json)
            rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    }
    cJSON_Delete(root);
    return rc;
}

void vodq_job_spec_cleanup(struct vodq_job_spec *s)
{
    if (!s)
        return;
    cJSON_free(s->json);
    s->json = NULL;
}

static const char *numeric_fields[] = {"progress", "attempts", "max_attempts", "fence",
                                       "timeout_ms", "created_at", "updated_at", "started_at",
                                       "finished_at", "retry_at", "stalls", "auth_version",
                                       "backoff_base_ms", "backoff_max_ms", "members",
                                       "group_index", NULL};

static char *print_free(cJSON *root);

bool vodq_job_key_secret(const char *name, size_t len)
{
    /* a key names a secret when it contains one of these words */
    static const char *words[] = {"secret", "token", "password", "passwd", "auth",
                                  "credential", "private", NULL};
    for (int i = 0; words[i]; i++) {
        size_t wl = strlen(words[i]);
        for (size_t k = 0; k + wl <= len; k++)
            if (!strncasecmp(name + k, words[i], wl))
                return true;
    }
    return false;
}

/* Replaces credential values inside a spec with "***" (status output,
 * HTTP /jobs): every value under a key that names a secret. */
static void redact(cJSON *item)
{
    for (cJSON *it = item ? item->child : NULL; it; it = it->next) {
        bool hide = it->string && vodq_job_key_secret(it->string, strlen(it->string));
        if (hide && cJSON_IsString(it)) {
            cJSON_SetValuestring(it, "***");
        } else if (hide) { /* a number, object or array under a secret's name */
            cJSON *star = cJSON_CreateString("***");
            if (star) {
                cJSON_ReplaceItemViaPointer(item, it, star);
                it = star;
            }
        } else if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
            redact(it);
        }
    }
}

/* End of the JSON value starting at p (a string with its escapes, or a
 * bare word up to , } ] or whitespace); never past end. */
static const char *value_end(const char *p, const char *end)
{
    if (p < end && *p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\' && p + 1 < end)
                p++;
            else if (*p == '"')
                return p + 1;
        }
        return end;
    }
    int depth = 0;
    for (; p < end; p++) {
        if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && depth-- == 0)
            return p;
        else if (*p == ',' && depth == 0)
            return p;
    }
    return end;
}

char *vodq_job_mask_text(const char *text, size_t len)
{
    const char *end = text + len;
    /* the output is never longer than the input plus 5 bytes a masked value */
    size_t cap = len * 2 + 16, o = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    const char *p = text;
    while (p < end) {
        if (*p != '"') {
            out[o++] = *p++;
            continue;
        }
        const char *q = value_end(p, end); /* a whole string token */
        memcpy(out + o, p, (size_t)(q - p));
        o += (size_t)(q - p);
        const char *name = p + 1;
        size_t nlen = q > name && q[-1] == '"' ? (size_t)(q - 1 - name) : (size_t)(q - name);
        p = q;
        const char *c = p;
        while (c < end && (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r'))
            c++;
        if (c < end && *c == ':' && vodq_job_key_secret(name, nlen)) {
            c++;
            while (c < end && (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r'))
                c++;
            memcpy(out + o, ":\"***\"", 6);
            o += 6;
            p = value_end(c, end);
        }
        if (o + 16 > cap) /* cannot happen with cap = 2 len + 16; kept as a guard */
            break;
    }
    out[o] = '\0';
    return out;
}

char *vodq_job_spec_shown(const char *text, size_t len)
{
    cJSON *item = cJSON_ParseWithLength(text, len);
    if (!item)
        return vodq_job_mask_text(text, len);
    redact(item);
    return print_free(item);
}

char *vodq_job_hash_json(const char *const *fields, const char *const *values, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *f = fields[i], *v = values[i] ? values[i] : "";
        if (!strcmp(f, "auth"))
            continue;
        bool num = false;
        for (int k = 0; numeric_fields[k]; k++)
            num |= !strcmp(f, numeric_fields[k]);
        cJSON *item = NULL;
        if (num && *v) {
            char *end;
            double d = strtod(v, &end);
            if (!*end)
                item = cJSON_CreateNumber(d);
        } else if (!strcmp(f, "spec") || !strcmp(f, "result") || !strcmp(f, "progress_data")) {
            item = *v ? cJSON_Parse(v) : NULL;
            redact(item);
            if (!item && *v) {
                /* not JSON (a rejected spec): shown as text, secrets masked */
                char *m = vodq_job_mask_text(v, strlen(v));
                item = m ? cJSON_CreateString(m) : NULL;
                free(m);
            }
        }
        if (!item)
            item = cJSON_CreateString(v);
        cJSON_AddItemToObject(o, f, item);
    }
    if (!cJSON_GetObjectItemCaseSensitive(o, "error"))
        cJSON_AddStringToObject(o, "error", "");
    if (!cJSON_GetObjectItemCaseSensitive(o, "progress"))
        cJSON_AddNumberToObject(o, "progress", 0);
    if (!cJSON_GetObjectItemCaseSensitive(o, "attempts"))
        cJSON_AddNumberToObject(o, "attempts", 0);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt)
        return NULL;
    char *out = strdup(txt); /* callers free with free() */
    cJSON_free(txt);
    return out;
}

char *vodq_job_spec_section(const char *spec_json, const char *type, const char *set_file)
{
    cJSON *root = cJSON_Parse(spec_json);
    if (!root)
        return NULL;
    char *out = NULL;
    cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, type);
    if (cJSON_IsObject(sec)) {
        if (set_file && !cJSON_GetObjectItemCaseSensitive(sec, "file"))
            cJSON_AddStringToObject(sec, "file", set_file);
        char *txt = cJSON_PrintUnformatted(sec);
        if (txt) {
            out = strdup(txt);
            cJSON_free(txt);
        }
    }
    cJSON_Delete(root);
    return out;
}

bool vodq_json_get_string(const char *json, const char *key, char *buf, size_t cap)
{
    if (cap)
        buf[0] = '\0';
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    const cJSON *v = root ? cJSON_GetObjectItemCaseSensitive(root, key) : NULL;
    bool ok = cJSON_IsString(v);
    if (ok)
        snprintf(buf, cap, "%s", v->valuestring);
    cJSON_Delete(root);
    return ok;
}

bool vodq_json_get_true(const char *json, const char *key)
{
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    bool t = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, key));
    cJSON_Delete(root);
    return t;
}

bool vodq_json_has(const char *json, const char *key)
{
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    const cJSON *v = root ? cJSON_GetObjectItemCaseSensitive(root, key) : NULL;
    bool has = v && !cJSON_IsNull(v);
    cJSON_Delete(root);
    return has;
}

double vodq_json_get_number(const char *json, const char *key, double def)
{
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    const cJSON *v = root ? cJSON_GetObjectItemCaseSensitive(root, key) : NULL;
    double d = cJSON_IsNumber(v) ? v->valuedouble : def;
    cJSON_Delete(root);
    return d;
}

static char *print_free(cJSON *root)
{
    char *txt = root ? cJSON_PrintUnformatted(root) : NULL;
    char *out = txt ? strdup(txt) : NULL;
    cJSON_free(txt);
    cJSON_Delete(root);
    return out;
}

char *vodq_job_spec_compose(const char *session, const char *timeline_json, const char *output)
{
    cJSON *tl = cJSON_Parse(timeline_json);
    if (!cJSON_IsObject(tl)) {
        cJSON_Delete(tl);
        return NULL;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "type", "compose");
    if (session)
        cJSON_AddStringToObject(root, "session", session);
    cJSON *sec = cJSON_AddObjectToObject(root, "compose");
    cJSON_AddItemToObject(sec, "timeline", tl);
    cJSON_AddStringToObject(sec, "output", output);
    return print_free(root);
}

char *vodq_job_spec_upload(const char *session, const char *path, const char *upload_address,
                           const char *upload_auth, bool image)
{
    struct vodq_upload_opts o = {
        .upload_address = upload_address, .upload_auth = upload_auth, .image = image};
    return vodq_job_spec_upload_opts(session, path, &o);
}

static void add_str(cJSON *o, const char *name, const char *v)
{
    if (v && *v)
        cJSON_AddStringToObject(o, name, v);
}

static void add_num(cJSON *o, const char *name, long long v)
{
    if (v > 0)
        cJSON_AddNumberToObject(o, name, (double)v);
}

char *vodq_job_spec_upload_opts(const char *session, const char *path,
                                const struct vodq_upload_opts *o)
{
    if (!o || (!o->s3_url && (!o->upload_address || !o->upload_auth)))
        return NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "type", "upload");
    add_str(root, "id", o->job_id);
    add_str(root, "session", session);
    add_num(root, "max_attempts", o->max_attempts);
    cJSON *sec = cJSON_AddObjectToObject(root, "upload");
    add_str(sec, "file", path);
    cJSON_AddStringToObject(sec, "kind", o->image ? "image" : "video");
    add_str(sec, "content_type", o->content_type);
    add_num(sec, "part_size", o->part_size);
    add_num(sec, "parallel", o->parallel);
    add_num(sec, "wait_auth_s", o->wait_auth_s);
    if (o->s3_url) {
        cJSON *s3 = cJSON_AddObjectToObject(sec, "s3");
        add_str(s3, "url", o->s3_url);
        add_str(s3, "endpoint", o->endpoint);
        add_str(s3, "region", o->region);
        add_str(s3, "access_key", o->access_key);
        add_str(s3, "secret_key", o->secret_key);
        add_str(s3, "session_token", o->session_token);
        if (o->path_style)
            cJSON_AddTrueToObject(s3, "path_style");
    } else {
        cJSON *vod = cJSON_AddObjectToObject(sec, "vod");
        cJSON_AddStringToObject(vod, "upload_address", o->upload_address);
        cJSON_AddStringToObject(vod, "upload_auth", o->upload_auth);
        add_str(vod, "endpoint", o->endpoint);
        if (o->path_style)
            cJSON_AddTrueToObject(vod, "path_style");
    }
    return print_free(root);
}

void vodq_job_instance_id(char *buf, size_t cap, const char *prefix, const char *given)
{
    if (given && *given) {
        snprintf(buf, cap, "%s", given);
        return;
    }
    char host[64] = "host", rnd[32];
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    vodq_job_id_new(rnd, sizeof(rnd));
    snprintf(buf, cap, "%s%s-%d-%s", prefix, host, (int)getpid(), rnd + 18);
}

char *vodq_job_section_with_auth(const char *section, const char *auth)
{
    cJSON *sec = cJSON_Parse(section);
    if (!cJSON_IsObject(sec)) {
        cJSON_Delete(sec);
        return NULL;
    }
    cJSON *vod = cJSON_GetObjectItemCaseSensitive(sec, "vod");
    cJSON *s3 = cJSON_GetObjectItemCaseSensitive(sec, "s3");
    bool ok = false;
    if (cJSON_IsObject(vod)) {
        cJSON_DeleteItemFromObjectCaseSensitive(vod, "upload_auth");
        ok = cJSON_AddStringToObject(vod, "upload_auth", auth) != NULL;
    } else if (cJSON_IsObject(s3)) {
        cJSON *a = cJSON_Parse(auth);
        static const char *keys[] = {"access_key", "secret_key", "session_token"};
        for (int i = 0; cJSON_IsObject(a) && i < 3; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, keys[i]);
            if (!cJSON_IsString(v))
                continue;
            cJSON_DeleteItemFromObjectCaseSensitive(s3, keys[i]);
            cJSON_AddStringToObject(s3, keys[i], v->valuestring);
            ok = true;
        }
        cJSON_Delete(a);
    }
    if (!ok) {
        cJSON_Delete(sec);
        return NULL;
    }
    return print_free(sec);
}
