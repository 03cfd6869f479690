/* proto.c: queue names, the embedded Lua scripts and their C wrappers. */
#include "shared/proto.h"

#include "shared/crypto.h"

#include "lua_scripts.h"
#include "shared/keys.h"
#include "vodq/vodq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct vodq_script scripts[VODQ_LUA__COUNT];
static pthread_once_t scripts_once = PTHREAD_ONCE_INIT;
static char *library;                            /* the FUNCTION library's text */
static char library_name[32];                    /* "vodq_" + 16 hex of its FNV-1a hash */
static char fnames[VODQ_LUA__COUNT][64];         /* "<library_name>_<script>" */

/* Growing text with abort() on OOM (start-up only, nothing sensible to do). */
static void cat(char **buf, size_t *len, const char *a, size_t n)
{
    char *b = realloc(*buf, *len + n + 1);
    if (!b)
        abort();
    memcpy(b + *len, a, n);
    *len += n;
    b[*len] = '\0';
    *buf = b;
}
#define CAT(buf, len, str) cat(&(buf), &(len), (str), strlen(str))

/* The library: a header naming it, common.lua, each script's own file as the body of a
 * function in the list SCRIPTS (name, function, ...), and the registration of
 * vodq_<hash>_<name> for each, which sets KEYS and ARGV and calls run(body) (common.lua:
 * per-call state, then the body, then the stats counters). Loaded once per server by
 * FUNCTION LOAD, so a call runs only its own file: common.lua's 800 lines of definitions
 * ran on every EVALSHA before. The name carries a hash of the text, so workers of two
 * versions can share a Redis during a rolling upgrade. An EVAL script (for a server
 * without FUNCTION) is common.lua, then its file as the body given to run(). */
static const char LIB_HEAD[] = "local KEYS, ARGV -- set per call by the registered function\n";
static const char LIB_TAIL[] =
    "\nfor i = 1, #SCRIPTS, 2 do -- (no pairs(): a library's load sees only redis.*)\n"
    "  local body = SCRIPTS[i + 1]\n"
    "  redis.register_function(LIB .. '_' .. SCRIPTS[i], function(keys, args)\n"
    "    KEYS, ARGV = keys, args\n"
    "    return run(body)\n"
    "  end)\n"
    "end\n";

static const char EVAL_MID[] = "\nreturn run(function()\n";
static const char EVAL_END[] = "\nend)\n";

static void scripts_init(void)
{
    static const struct {
        const char *name;
        const char *body;
    } src[VODQ_LUA__COUNT] = {
        [VODQ_LUA_SUBMIT] = {"submit", vodq_lua_submit},
        [VODQ_LUA_STEP] = {"step", vodq_lua_step},
        [VODQ_LUA_REPORT] = {"report", vodq_lua_report},
        [VODQ_LUA_HEARTBEAT] = {"heartbeat", vodq_lua_heartbeat},
        [VODQ_LUA_CONTROL] = {"control", vodq_lua_control},
        [VODQ_LUA_PROMOTE] = {"promote", vodq_lua_promote},
        [VODQ_LUA_RECLAIM] = {"reclaim", vodq_lua_reclaim},
        [VODQ_LUA_REAP] = {"reap", vodq_lua_reap},
        [VODQ_LUA_CKPT] = {"ckpt", vodq_lua_ckpt},
        [VODQ_LUA_SESSION] = {"session", vodq_lua_session},
        [VODQ_LUA_REMOVE] = {"remove", vodq_lua_remove},
        [VODQ_LUA_SCHEDULE] = {"schedule", vodq_lua_schedule},
        [VODQ_LUA_HOOK] = {"hook", vodq_lua_hook},
    };
    char *text = NULL;
    size_t tl = 0;
    CAT(text, tl, vodq_lua_common);
    CAT(text, tl, "\nlocal SCRIPTS = {}\n");
    for (int i = 0; i < VODQ_LUA__COUNT; i++) {
        CAT(text, tl, "SCRIPTS[#SCRIPTS + 1] = '");
        CAT(text, tl, src[i].name);
        CAT(text, tl, "'\nSCRIPTS[#SCRIPTS + 1] = function()\n");
        CAT(text, tl, src[i].body);
        CAT(text, tl, "\nend\n");
    }
    CAT(text, tl, LIB_TAIL);
    unsigned long long h = 14695981039346656037ULL; /* FNV-1a 64 */
    for (size_t i = 0; i < tl; i++)
        h = (h ^ (unsigned char)text[i]) * 1099511628211ULL;
    snprintf(library_name, sizeof(library_name), "vodq_%016llx", h);
    char head[160];
    snprintf(head, sizeof(head), "#!lua name=%s\n%slocal LIB = '%s'\n", library_name, LIB_HEAD,
             library_name);
    size_t hl = 0;
    CAT(library, hl, head);
    cat(&library, &hl, text, tl);
    free(text);
    for (int i = 0; i < VODQ_LUA__COUNT; i++) {
        char *body = NULL;
        size_t bl = 0;
        CAT(body, bl, vodq_lua_common);
        CAT(body, bl, EVAL_MID);
        CAT(body, bl, src[i].body);
        CAT(body, bl, EVAL_END);
        snprintf(fnames[i], sizeof(fnames[i]), "%s_%s", library_name, src[i].name);
        scripts[i].name = src[i].name;
        scripts[i].body = body;
        scripts[i].fcall = fnames[i];
        scripts[i].library = library;
        scripts[i].library_name = library_name;
    }
}

struct vodq_script *vodq_proto_script(enum vodq_script_id id)
{
    pthread_once(&scripts_once, scripts_init);
    return &scripts[id];
}

const char *vodq_proto_library(const char **name)
{
    pthread_once(&scripts_once, scripts_init);
    if (name)
        *name = library_name;
    return library;
}

enum vodq_rc vodq_queue_init(struct vodq_queue *q, const char *name, long long events_maxlen,
                             long long retention_s, struct vodq_err *err)
{
    memset(q, 0, sizeof(*q));
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > 60)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "queue name: must be 1-60 characters");
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "queue name '%s': only [A-Za-z0-9_.-] allowed", name);
    }
    snprintf(q->name, sizeof(q->name), "%s", name);
    snprintf(q->prefix, sizeof(q->prefix), VODQ_KEY_PREFIX_FMT, name);
    snprintf(q->evmax, sizeof(q->evmax), "%lld", events_maxlen > 0 ? events_maxlen : 100000);
    snprintf(q->retention, sizeof(q->retention), "%lld", retention_s > 0 ? retention_s : 604800);
    snprintf(q->route_key, sizeof(q->route_key), "%s%s", q->prefix, VODQ_KEY_STATS);
    return VODQ_OK;
}

void vodq_queue_key(const struct vodq_queue *q, char *buf, size_t cap, const char *suffix,
                    const char *id)
{
    snprintf(buf, cap, "%s%s%s", q->prefix, suffix, id ? id : "");
}

#define MAX_ARGS 1024

/* KEYS[1], the three common ARGV, the script's own, and last the request id. */
static int build_args(const struct vodq_queue *q, int n, const char **args, const size_t *lens,
                      const char *rid, const char **all, size_t *all_lens)
{
    all[0] = q->route_key; /* KEYS[1] */
    all[1] = q->prefix;    /* ARGV[1] */
    all[2] = q->evmax;
    all[3] = q->retention;
    for (int i = 0; i < 4; i++)
        all_lens[i] = strlen(all[i]);
    for (int i = 0; i < n; i++) {
        all[4 + i] = args[i] ? args[i] : "";
        all_lens[4 + i] = lens ? lens[i] : strlen(all[4 + i]);
    }
    all[4 + n] = rid ? rid : "";
    all_lens[4 + n] = strlen(all[4 + n]);
    return n + 5;
}

static struct vodq_reply *call_rid(struct vodq_redis *r, const struct vodq_queue *q,
                                   enum vodq_script_id id, int n, const char **args,
                                   const size_t *lens, const char *rid, struct vodq_err *err)
{
    if (n + 5 > MAX_ARGS) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "too many script arguments");
        return NULL;
    }
    const char *all[MAX_ARGS];
    size_t all_lens[MAX_ARGS];
    int total = build_args(q, n, args, lens, rid, all, all_lens);
    struct vodq_script *s = vodq_proto_script(id);
    struct vodq_reply *rep = vodq_redis_eval(r, s, 1, total, all, all_lens, err);
    if (rep && rep->type == VODQ_REPLY_ERROR) {
        vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "script %s: %s", s->name, rep->str);
        vodq_reply_free(rep);
        return NULL;
    }
    return rep;
}

struct vodq_reply *vodq_proto_call(struct vodq_redis *r, const struct vodq_queue *q,
                                   enum vodq_script_id id, int n, const char **args,
                                   const size_t *lens, struct vodq_err *err)
{
    return call_rid(r, q, id, n, args, lens, "", err);
}

void vodq_proto_chan_init(struct vodq_proto_chan *ch, const char *owner)
{
    char rnd[VODQ_ID_MAX + 1];
    vodq_job_id_new(rnd, sizeof(rnd));
    snprintf(ch->id, sizeof(ch->id), "%.120s:%.40s", owner && *owner ? owner : "client", rnd);
    ch->seq = 0;
}

struct vodq_reply *vodq_proto_call_once(struct vodq_redis *r, struct vodq_proto_chan *ch,
                                        const struct vodq_queue *q, enum vodq_script_id id,
                                        int n, const char **args, const size_t *lens, int tries,
                                        struct vodq_err *err)
{
    char rid[sizeof(ch->id) + 24];
    snprintf(rid, sizeof(rid), "%s|%llu", ch->id, ++ch->seq);
    struct vodq_err e = {0};
    for (int i = 0;; i++) {
        struct vodq_reply *rep = call_rid(r, q, id, n, args, lens, rid, &e);
        if (rep || i + 1 >= tries || (e.code != VODQ_ERR_IO && e.code != VODQ_ERR_TIMEOUT)) {
            if (!rep && err)
                *err = e;
            return rep;
        }
    }
}

const struct vodq_reply *vodq_proto_map_get(const struct vodq_reply *map, const char *key)
{
    if (!map || map->type != VODQ_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < map->elements; i += 2) {
        const struct vodq_reply *k = map->element[i];
        if (k->str && !strcmp(k->str, key))
            return map->element[i + 1];
    }
    return NULL;
}

const char *vodq_proto_map_str(const struct vodq_reply *map, const char *key, const char *def)
{
    const struct vodq_reply *v = vodq_proto_map_get(map, key);
    return v && v->str ? v->str : def;
}

static long long map_int(const struct vodq_reply *map, const char *key, long long def)
{
    const struct vodq_reply *v = vodq_proto_map_get(map, key);
    return v ? vodq_reply_int(v, def) : def;
}

bool vodq_proto_task_decode(const struct vodq_reply *map, struct vodq_proto_task *t,
                            struct vodq_err *err)
{
    memset(t, 0, sizeof(*t));
    t->job = vodq_proto_map_str(map, "job", NULL);
    t->entry = vodq_proto_map_str(map, "entry", NULL);
    t->fence = vodq_proto_map_str(map, "fence", NULL);
    t->spec = vodq_proto_map_str(map, "spec", NULL);
    if (!t->job || !t->entry || !t->fence || !t->spec) {
        vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "step: a task without %s",
                     !t->job ? "job" : !t->entry ? "entry" : !t->fence ? "fence" : "spec");
        return false;
    }
    t->desired = vodq_proto_map_str(map, "desired", "run");
    t->session = vodq_proto_map_str(map, "session", "");
    t->export_path = vodq_proto_map_str(map, "export", "");
    t->attempt = (int)map_int(map, "attempt", 1);
    t->max_attempts = (int)map_int(map, "max_attempts", 0);
    t->timeout_ms = map_int(map, "timeout_ms", 0);
    t->auth_version = map_int(map, "auth_version", 0);
    return true;
}

bool vodq_proto_lease_decode(const struct vodq_reply *map, struct vodq_proto_lease *out)
{
    const char *st = vodq_proto_map_str(map, "status", NULL);
    out->fenced = st && !strcmp(st, "fenced");
    out->desired = vodq_proto_map_str(map, "desired", "");
    out->auth_version = map_int(map, "auth_version", 0);
    return st != NULL;
}

const struct vodq_reply *vodq_proto_step_statuses(const struct vodq_reply *rep)
{
    return rep && rep->type == VODQ_REPLY_ARRAY && rep->elements == 2 &&
                   rep->element[0]->type == VODQ_REPLY_ARRAY
               ? rep->element[0]
               : NULL;
}

const struct vodq_reply *vodq_proto_step_tasks(const struct vodq_reply *rep)
{
    return rep && rep->type == VODQ_REPLY_ARRAY && rep->elements == 2 &&
                   rep->element[1]->type == VODQ_REPLY_ARRAY
               ? rep->element[1]
               : NULL;
}

enum vodq_rc vodq_proto_append(struct vodq_redis *r, const struct vodq_queue *q,
                               enum vodq_script_id id, int n, const char **args,
                               const size_t *lens, struct vodq_err *err)
{
    if (n + 5 > MAX_ARGS)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "too many script arguments");
    const char *all[MAX_ARGS];
    size_t all_lens[MAX_ARGS];
    int total = build_args(q, n, args, lens, "", all, all_lens);
    return vodq_redis_eval_append(r, vodq_proto_script(id), 1, total, all, all_lens, err);
}

bool vodq_proto_lane_depth(struct vodq_redis *r, const char *key, struct vodq_lane_depth *d,
                           struct vodq_err *err)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->delivered, sizeof(d->delivered), "0-0");
    struct vodq_reply *g = vodq_redis_cmd(r, err, "XINFO GROUPS %s", key);
    if (!g || (g->type != VODQ_REPLY_ARRAY && g->type != VODQ_REPLY_ERROR)) {
        vodq_reply_free(g);
        return false;
    }
    bool lag_known = false; /* an error reply (no such stream yet): all zero */
    for (size_t i = 0; g->type == VODQ_REPLY_ARRAY && i < g->elements; i++) {
        const struct vodq_reply *e = g->element[i];
        const char *name = vodq_proto_map_str(e, "name", "");
        if (strcmp(name, VODQ_GROUP_WORKERS))
            continue;
        d->running = map_int(e, "pending", 0);
        snprintf(d->delivered, sizeof(d->delivered), "%s",
                 vodq_proto_map_str(e, "last-delivered-id", "0-0"));
        const struct vodq_reply *lag = vodq_proto_map_get(e, "lag");
        if (lag && lag->type == VODQ_REPLY_INTEGER) {
            d->waiting = lag->integer;
            lag_known = true;
        }
    }
    bool stream = g->type == VODQ_REPLY_ARRAY;
    vodq_reply_free(g);
    if (stream && !lag_known) {
        /* Redis 6, or entries deleted after the last delivered one (a cancelled or
         * removed queued job) make the lag unknown for a while: XLEN less the pending
         * ones counts acknowledged entries not yet trimmed too (an upper bound) */
        struct vodq_reply *n = vodq_redis_cmd(r, err, "XLEN %s", key);
        if (!n || n->type != VODQ_REPLY_INTEGER) {
            vodq_reply_free(n);
            return false;
        }
        d->waiting = n->integer > d->running ? n->integer - d->running : 0;
        vodq_reply_free(n);
    }
    return true;
}

static enum vodq_rc create_group(struct vodq_redis *r, const char *key, const char *group,
                                 struct vodq_err *err)
{
    struct vodq_reply *rep = vodq_redis_cmd(r, err, "XGROUP CREATE %s %s 0 MKSTREAM", key, group);
    if (!rep)
        return err ? err->code : VODQ_ERR_IO;
    enum vodq_rc rc = VODQ_OK;
    if (rep->type == VODQ_REPLY_ERROR && strncmp(rep->str, "BUSYGROUP", 9) != 0)
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "XGROUP CREATE %s: %s", key, rep->str);
    vodq_reply_free(rep);
    return rc;
}

enum vodq_rc vodq_proto_ensure_groups(struct vodq_redis *r, const struct vodq_queue *q,
                                      struct vodq_err *err)
{
    char key[VODQ_KEY_MAX];
    enum vodq_rc rc;
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_SUBMIT, NULL);
    if ((rc = create_group(r, key, VODQ_GROUP_SCHEDULERS, err)) != VODQ_OK)
        return rc;
    for (int t = 0; t < VODQ_TASK__COUNT; t++) {
        vodq_queue_key(q, key, sizeof(key), VODQ_KEY_TASKS, vodq_task_type_name(t));
        if ((rc = create_group(r, key, VODQ_GROUP_WORKERS, err)) != VODQ_OK)
            return rc;
    }
    return VODQ_OK;
}

enum vodq_rc vodq_proto_control(struct vodq_redis *r, const struct vodq_queue *q, const char *job,
                                const char *cmd, const char *arg, char *msg, size_t cap,
                                struct vodq_err *err)
{
    char *sealed = NULL;
    if (arg && *arg && q->keys && !strcmp(cmd, "refresh_auth")) {
        sealed = vodq_seal(q->keys, arg, strlen(arg), err);
        if (!sealed)
            return err && err->code ? err->code : VODQ_ERR_OOM;
        arg = sealed;
    }
    const char *args[3] = {job, cmd, arg ? arg : ""};
    struct vodq_proto_chan ch;
    vodq_proto_chan_init(&ch, "ctl");
    struct vodq_reply *rep =
        vodq_proto_call_once(r, &ch, q, VODQ_LUA_CONTROL, 3, args, NULL, 3, err);
    free(sealed);
    if (!rep)
        return err ? err->code : VODQ_ERR_IO;
    const char *status = vodq_proto_map_str(rep, "status", NULL);
    const char *text = vodq_proto_map_str(rep, "message", NULL);
    enum vodq_rc rc = VODQ_OK;
    if (!status || !text)
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "control: unexpected reply");
    else if (strcmp(status, "ok") != 0)
        rc = vodq_err_set(err, strncmp(text, "no such job", 11) ? VODQ_ERR_INVALID
                                                                 : VODQ_ERR_NOTFOUND,
                          0, "%s %s: %s", cmd, job, text);
    else if (msg)
        snprintf(msg, cap, "%s", text);
    vodq_reply_free(rep);
    return rc;
}

enum vodq_rc vodq_proto_remove(struct vodq_redis *r, struct vodq_proto_chan *ch,
                               const struct vodq_queue *q, const char *job,
                               const char *only_state, long long ended_before_ms, bool *skipped,
                               struct vodq_err *err)
{
    char before[24] = "";
    if (ended_before_ms >= 0)
        snprintf(before, sizeof(before), "%lld", ended_before_ms);
    const char *args[3] = {job, only_state ? only_state : "", before};
    struct vodq_proto_chan own;
    if (!ch) {
        vodq_proto_chan_init(&own, "remove");
        ch = &own;
    }
    struct vodq_reply *rep = vodq_proto_call_once(r, ch, q, VODQ_LUA_REMOVE, 3, args, NULL, 3, err);
    if (!rep)
        return err ? err->code : VODQ_ERR_IO;
    const char *status = vodq_proto_map_str(rep, "status", NULL);
    const char *text = vodq_proto_map_str(rep, "message", "");
    enum vodq_rc rc = VODQ_OK;
    if (skipped)
        *skipped = status && !strcmp(status, "skipped");
    if (!status)
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "remove: unexpected reply");
    else if (!strcmp(status, "missing"))
        rc = vodq_err_set(err, VODQ_ERR_NOTFOUND, 0, "remove %s: %s", job, text);
    else if (!strcmp(status, "refused"))
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "remove %s: %s", job, text);
    vodq_reply_free(rep);
    return rc;
}

/* Validates text and appends its three submit commands to r's pipeline (an invalid spec
 * only when send_invalid: the scheduler then records it as rejected). *sent tells whether
 * commands went out; verr gets the validation result. Fails only when appending fails. */
static enum vodq_rc submit_append(struct vodq_redis *r, const struct vodq_queue *q,
                                  const char *text, size_t len, const struct vodq_job_defaults *d,
                                  bool send_invalid, char *id_out, size_t id_cap, bool *sent,
                                  struct vodq_err *verr, struct vodq_err *err)
{
    struct vodq_job_spec spec;
    enum vodq_rc vrc = vodq_job_spec_parse(text, len, d, &spec, verr);
    *sent = false;
    if (spec.id[0])
        snprintf(id_out, id_cap, "%s", spec.id);
    else if (vrc == VODQ_OK || send_invalid)
        vodq_job_id_new(id_out, id_cap);
    else
        id_out[0] = '\0';
    if (vrc != VODQ_OK && !send_invalid) {
        vodq_job_spec_cleanup(&spec);
        return VODQ_OK;
    }
    /* what goes into Redis: a valid spec with its credentials sealed (with
     * a keyring), an invalid one with them masked */
    char *owned = vrc == VODQ_OK ? (q->keys ? vodq_seal_spec(q->keys, spec.json, err) : NULL)
                                 : vodq_job_spec_shown(text, len);
    if ((vrc != VODQ_OK || q->keys) && !owned) {
        vodq_job_spec_cleanup(&spec);
        return err && err->code ? err->code : VODQ_ERR_OOM;
    }
    const char *body = owned ? owned : spec.json;
    size_t body_len = strlen(body);
    char key[VODQ_KEY_MAX], skey[VODQ_KEY_MAX], now[24];
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_JOB, id_out);
    vodq_queue_key(q, skey, sizeof(skey), VODQ_KEY_SUBMIT, NULL);
    snprintf(now, sizeof(now), "%lld", (long long)vodq_now_ms());
    /* HSETNX keeps an existing job (a resubmitted id) untouched. */
    const char *a1[] = {"HSETNX", key, "state", "submitted"};
    const char *a2[] = {"HSETNX", key, "created_at", now};
    const char *a3[] = {"XADD", skey, "*", "id", id_out, "spec", body};
    size_t l3[] = {4, strlen(skey), 1, 2, strlen(id_out), 4, body_len};
    enum vodq_rc rc;
    if ((rc = vodq_redis_append_argv(r, 4, a1, NULL, err)) == VODQ_OK &&
        (rc = vodq_redis_append_argv(r, 4, a2, NULL, err)) == VODQ_OK &&
        (rc = vodq_redis_append_argv(r, 7, a3, l3, err)) == VODQ_OK)
        *sent = true;
    vodq_job_spec_cleanup(&spec);
    free(owned);
    return rc;
}

/* Reads the three replies of one submit_append. */
static enum vodq_rc submit_read(struct vodq_redis *r, struct vodq_err *err)
{
    enum vodq_rc rc = VODQ_OK;
    for (int i = 0; i < 3; i++) {
        struct vodq_reply *rep = vodq_redis_read(r, err);
        if (!rep)
            return err && err->code ? err->code : VODQ_ERR_IO;
        if (rep->type == VODQ_REPLY_ERROR && rc == VODQ_OK)
            rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "submit: %s", rep->str);
        vodq_reply_free(rep);
    }
    return rc;
}

enum vodq_rc vodq_proto_submit(struct vodq_redis *r, const struct vodq_queue *q, const char *text,
                               size_t len, const struct vodq_job_defaults *d, char *id_out,
                               size_t id_cap, struct vodq_err *err)
{
    char id[VODQ_ID_MAX + 1];
    struct vodq_err verr = {0};
    bool sent;
    enum vodq_rc rc = submit_append(r, q, text, len, d, true, id, sizeof(id), &sent, &verr, err);
    if (rc == VODQ_OK && sent)
        rc = submit_read(r, err);
    if (rc != VODQ_OK)
        return rc;
    snprintf(id_out, id_cap, "%s", id);
    if (verr.code != VODQ_OK) {
        if (err)
            *err = verr;
        return verr.code;
    }
    return VODQ_OK;
}

#define SUBMIT_BATCH 1000 /* specs per pipelined round trip */

static const char submit_lost[] = "connection failed before the reply: the job may or may not "
                                  "have been submitted (resubmitting the same id is safe)";

/* Reads the replies of the specs in res[0..m-1] that were sent (err.code VODQ_OK after
 * submit_append); rc: the connection's state so far (not VODQ_OK: they are all lost).
 * Returns the connection's state after; counts failures in *bad. */
static enum vodq_rc submit_read_batch(struct vodq_redis *r, struct vodq_submit_result *res,
                                      size_t m, enum vodq_rc rc, size_t *bad,
                                      struct vodq_err *err)
{
    for (size_t k = 0; k < m; k++) {
        struct vodq_submit_result *o = &res[k];
        if (o->err.code != VODQ_OK)
            continue;
        enum vodq_rc one = rc == VODQ_OK ? submit_read(r, &o->err) : rc;
        if (one == VODQ_OK)
            continue;
        (*bad)++;
        if (rc == VODQ_OK && o->err.code == VODQ_ERR_PROTOCOL && vodq_redis_connected(r))
            continue; /* Redis refused this one (e.g. out of memory): the next may still go */
        if (rc == VODQ_OK && err)
            *err = o->err;
        rc = one;
        vodq_err_set(&o->err, one, 0, "%s", submit_lost);
    }
    return rc;
}

enum vodq_rc vodq_proto_submit_many(struct vodq_redis *r, const struct vodq_queue *q,
                                    const char *const *texts, const size_t *lens, size_t n,
                                    const struct vodq_job_defaults *d,
                                    struct vodq_submit_result *res, struct vodq_err *err)
{
    /* Two batches in flight: batch b is sent before the replies of batch b-1 are read,
     * so Redis works on b while this side reads b-1's replies and validates b+1. */
    size_t bad = 0, prev = 0, prev_m = 0;
    enum vodq_rc rc = VODQ_OK;
    for (size_t base = 0; base < n && rc == VODQ_OK; base += SUBMIT_BATCH) {
        size_t m = n - base < SUBMIT_BATCH ? n - base : SUBMIT_BATCH, i;
        for (i = 0; i < m && rc == VODQ_OK; i++) {
            struct vodq_submit_result *o = &res[base + i];
            memset(&o->err, 0, sizeof(o->err));
            const char *t = texts[base + i];
            bool sent;
            rc = submit_append(r, q, t, lens ? lens[base + i] : strlen(t), d, false, o->id,
                               sizeof(o->id), &sent, &o->err, err);
            if (o->err.code != VODQ_OK)
                bad++;
            else if (!sent) { /* the append itself failed */
                vodq_err_set(&o->err, rc, 0, "not submitted: %s", err ? err->msg : "");
                bad++;
            }
        }
        if (rc == VODQ_OK)
            rc = vodq_redis_flush(r, err);
        rc = submit_read_batch(r, res + prev, prev_m, rc, &bad, err);
        prev = base;
        prev_m = rc == VODQ_OK ? m : i;
        for (size_t k = base + i; k < n && rc != VODQ_OK; k++) {
            vodq_err_set(&res[k].err, rc, 0, "not submitted: %s", err ? err->msg : "");
            bad++;
        }
    }
    rc = submit_read_batch(r, res + prev, prev_m, rc, &bad, err);
    if (rc != VODQ_OK)
        return rc;
    if (bad)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%zu of %zu specs not submitted", bad, n);
    return VODQ_OK;
}

char *vodq_proto_job_json(struct vodq_redis *r, const struct vodq_queue *q, const char *job,
                          struct vodq_err *err)
{
    char key[VODQ_KEY_MAX];
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_JOB, job);
    struct vodq_reply *rep = vodq_redis_cmd(r, err, "HGETALL %s", key);
    if (!rep)
        return NULL;
    char *out = NULL;
    if (rep->type != VODQ_REPLY_ARRAY) {
        vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "HGETALL %s: unexpected reply", key);
    } else if (rep->elements == 0) {
        vodq_err_set(err, VODQ_ERR_NOTFOUND, 0, "no such job: %s", job);
    } else {
        size_t n = rep->elements / 2;
        const char **f = calloc(n + 1, sizeof(*f)), **v = calloc(n + 1, sizeof(*v));
        if (f && v) {
            for (size_t i = 0; i < n; i++) {
                f[i] = rep->element[2 * i]->str ? rep->element[2 * i]->str : "";
                v[i] = rep->element[2 * i + 1]->str ? rep->element[2 * i + 1]->str : "";
            }
            bool has_id = false;
            for (size_t i = 0; i < n; i++)
                has_id |= !strcmp(f[i], "id");
            if (!has_id) { /* a job still in the submit stream */
                f[n] = "id";
                v[n] = job;
                n++;
            }
            out = vodq_job_hash_json(f, v, n);
        }
        free(f);
        free(v);
        if (!out)
            vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    }
    vodq_reply_free(rep);
    return out;
}

enum vodq_rc vodq_proto_session_release(struct vodq_redis *r, const struct vodq_queue *q,
                                        const char *session, int *cancelled, char ***exports,
                                        struct vodq_err *err)
{
    if (!session || !vodq_job_id_valid(session))
        return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                            "session: must be 1-128 characters [A-Za-z0-9_.:-]");
    const char *args[1] = {session};
    struct vodq_proto_chan ch;
    vodq_proto_chan_init(&ch, "ctl");
    struct vodq_reply *rep = vodq_proto_call_once(r, &ch, q, VODQ_LUA_SESSION, 1, args, NULL, 3, err);
    if (!rep)
        return err ? err->code : VODQ_ERR_IO;
    const char *status = vodq_proto_map_str(rep, "status", "");
    const char *msg = vodq_proto_map_str(rep, "message", "unexpected reply");
    enum vodq_rc rc = VODQ_OK;
    if (strcmp(status, "ok") != 0) {
        rc = vodq_err_set(err, strncmp(msg, "no such", 7) ? VODQ_ERR_INVALID : VODQ_ERR_NOTFOUND,
                          0, "%s", msg);
    } else {
        if (cancelled)
            *cancelled = (int)map_int(rep, "cancelled", 0);
        const struct vodq_reply *ex = vodq_proto_map_get(rep, "exports");
        if (exports) {
            size_t n = ex && ex->type == VODQ_REPLY_ARRAY ? ex->elements : 0;
            char **list = calloc(n + 1, sizeof(*list));
            if (!list) {
                rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
            } else {
                for (size_t i = 0, k = 0; i < n; i++)
                    if (ex->element[i]->str && (list[k] = strdup(ex->element[i]->str)))
                        k++;
                *exports = list;
            }
        }
    }
    vodq_reply_free(rep);
    return rc;
}

char *vodq_proto_session_json(struct vodq_redis *r, const struct vodq_queue *q,
                              const char *session, struct vodq_err *err)
{
    if (!session || !vodq_job_id_valid(session)) {
        vodq_err_set(err, VODQ_ERR_INVALID, 0, "session: must be 1-128 characters [A-Za-z0-9_.:-]");
        return NULL;
    }
    char key[VODQ_KEY_MAX], jkey[VODQ_KEY_MAX];
    vodq_queue_key(q, key, sizeof(key), VODQ_KEY_SESSION, session);
    struct vodq_reply *h = vodq_redis_cmd(r, err, "HGETALL %s", key);
    if (!h)
        return NULL;
    char *out = NULL, *obj = NULL;
    struct vodq_reply *jobs = NULL;
    if (h->type != VODQ_REPLY_ARRAY || h->elements == 0) {
        vodq_err_set(err, VODQ_ERR_NOTFOUND, 0, "no such session: %s", session);
        goto done;
    }
    size_t n = h->elements / 2;
    const char *f[40], *v[40];
    size_t k = 0;
    f[k] = "id";
    v[k++] = session;
    for (size_t i = 0; i < n && k < 40; i++) {
        f[k] = h->element[2 * i]->str ? h->element[2 * i]->str : "";
        v[k] = h->element[2 * i + 1]->str ? h->element[2 * i + 1]->str : "";
        if (!strcmp(f[k], "released") && !strcmp(v[k], "1")) {
            vodq_err_set(err, VODQ_ERR_INVALID, 0, "session %s: session released", session);
            goto done;
        }
        k++;
    }
    obj = vodq_job_hash_json(f, v, k);
    vodq_queue_key(q, jkey, sizeof(jkey), VODQ_KEY_SESSION, session);
    strncat(jkey, VODQ_KEY_SESSION_JOBS, sizeof(jkey) - strlen(jkey) - 1);
    jobs = vodq_redis_cmd(r, err, "ZRANGE %s 0 -1", jkey);
    if (!obj || !jobs || jobs->type != VODQ_REPLY_ARRAY) {
        if (!obj)
            vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        else if (jobs)
            vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "ZRANGE %s: unexpected reply", jkey);
        goto done;
    }
    /* each job's type, state and number, in submit order (ids are [A-Za-z0-9_.:-]) */
    size_t cap = strlen(obj) + 64 + jobs->elements * (VODQ_ID_MAX + 128), len = 0;
    out = malloc(cap);
    if (!out) {
        vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto done;
    }
    len = (size_t)snprintf(out, cap, "%.*s,\"jobs_list\":[", (int)(strlen(obj) - 1), obj);
    for (size_t i = 0; i < jobs->elements; i++) {
        const char *id = jobs->element[i]->str ? jobs->element[i]->str : "";
        vodq_queue_key(q, jkey, sizeof(jkey), VODQ_KEY_JOB, id);
        struct vodq_reply *jh =
            vodq_redis_cmd(r, err, "HMGET %s type state session_seq error_code", jkey);
        const char *type = jh ? vodq_reply_str(jh, 0) : NULL;
        const char *st = jh ? vodq_reply_str(jh, 1) : NULL;
        const char *seq = jh ? vodq_reply_str(jh, 2) : NULL;
        const char *code = jh ? vodq_reply_str(jh, 3) : NULL;
        len += (size_t)snprintf(out + len, cap - len,
                                "%s{\"id\":\"%s\",\"type\":\"%s\",\"state\":\"%s\",\"seq\":%s%s%s%s}",
                                i ? "," : "", id, type ? type : "", st ? st : "expired",
                                seq && *seq ? seq : "null", code && *code ? ",\"error_code\":\"" : "",
                                code && *code ? code : "", code && *code ? "\"" : "");
        vodq_reply_free(jh);
    }
    snprintf(out + len, cap - len, "]}");
done:
    free(obj);
    vodq_reply_free(jobs);
    vodq_reply_free(h);
    return out;
}

void vodq_event_fields(const struct vodq_reply *e, struct vodq_event *ev)
{
    *ev = (struct vodq_event){.data = "{}"};
    if (!e || e->type != VODQ_REPLY_ARRAY || e->elements < 2)
        return;
    ev->id = e->element[0]->str;
    const struct vodq_reply *f = e->element[1];
    for (size_t i = 0; f && i + 1 < f->elements; i += 2) {
        const char *k = f->element[i]->str, *v = f->element[i + 1]->str;
        if (!k || !v)
            continue;
        if (!strcmp(k, "job"))
            ev->job = v;
        else if (!strcmp(k, "type"))
            ev->type = v;
        else if (!strcmp(k, "state"))
            ev->state = v;
        else if (!strcmp(k, "data"))
            ev->data = v;
    }
}
