/* redis.h: Redis access; the ONLY module that includes hiredis.
 *
 * A handle owns one connection (TCP, TLS through OpenSSL, or a unix
 * socket). hiredis 0.14 has no TLS, so the socket is ours: commands are
 * formatted with hiredis's formatter and replies parsed by its reader.
 * After any I/O or protocol error (and on a READONLY reply, which means
 * the server was demoted by a failover) the connection is dropped and the
 * next command reconnects with backoff.
 * Not thread-safe: one handle per thread. */
#ifndef VODQ_REDIS_H
#define VODQ_REDIS_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>

enum vodq_reply_type {
    VODQ_REPLY_STRING = 1,
    VODQ_REPLY_ARRAY = 2,
    VODQ_REPLY_INTEGER = 3,
    VODQ_REPLY_NIL = 4,
    VODQ_REPLY_STATUS = 5,
    VODQ_REPLY_ERROR = 6,
};

/* A reply, deep-copied out of hiredis. Free with vodq_reply_free(). */
struct vodq_reply {
    enum vodq_reply_type type;
    long long integer;           /* VODQ_REPLY_INTEGER */
    size_t len;                  /* bytes in str */
    char *str;                   /* STRING, STATUS, ERROR; NUL-terminated */
    size_t elements;             /* ARRAY */
    struct vodq_reply **element; /* ARRAY */
};

void vodq_reply_free(struct vodq_reply *r);

/* What a URL names: one server over TCP (optionally TLS), a unix socket,
 * or a master found through Sentinel. */
enum vodq_redis_kind {
    VODQ_REDIS_TCP = 0,
    VODQ_REDIS_UNIX,
    VODQ_REDIS_SENTINEL,
};

#define VODQ_REDIS_MAX_SENTINELS 8

struct vodq_redis_addr {
    char host[256];
    int port;
};

/* Parsed Redis URL:
 *   redis://[user:pass@]host:port/db     rediss:// the same over TLS
 *   unix://[user:pass@]/path/redis.sock[?db=N]
 *   redis+sentinel://[user:pass@]h:p[,h:p...]/master[/db]
 *   rediss+sentinel://...                (TLS to sentinels and master) */
struct vodq_redis_url {
    enum vodq_redis_kind kind;
    bool tls;           /* rediss:// */
    char host[256];     /* host name or address (SENTINEL: the first sentinel) */
    int port;           /* TCP port, default 6379 (SENTINEL: 26379) */
    char path[108];     /* UNIX: socket path */
    char master[128];   /* SENTINEL: master name */
    struct vodq_redis_addr sentinels[VODQ_REDIS_MAX_SENTINELS];
    int n_sentinels;
    char user[128];     /* ACL user, "" for none */
    char password[256]; /* "" for none */
    int db;             /* database number, default 0 */
};

/* Parses url into *out. Accepts the forms above, "redis://:pw@host" and a
 * bare "host:port". Percent-escapes in user and password are decoded.
 * Returns VODQ_ERR_INVALID naming the part that is wrong (never showing
 * the password). */
enum vodq_rc vodq_redis_url_parse(const char *url, struct vodq_redis_url *out,
                                  struct vodq_err *err);

/* TLS settings for rediss:// connections of this process (every handle
 * made afterwards): ca_file is a PEM bundle that signs the server's
 * certificate (NULL or "" = the system's CAs); cert_file and key_file a
 * client certificate and its key (both or neither). All three empty does
 * nothing (the system's CAs are loaded on first use). The files are read
 * now, so a bad path or key fails here, naming the file. Call before
 * starting threads. */
enum vodq_rc vodq_redis_tls_config(const char *ca_file, const char *cert_file,
                                   const char *key_file, struct vodq_err *err);

/* The three config-table rows (shared/config.h) every program that talks
 * to Redis carries; ca, cert and key are char ** for VODQ_OPT_STR. */
#define VODQ_REDIS_TLS_OPTS(ca, cert, key)                                                   \
    {"redis-ca-file", "VODQ_REDIS_CA_FILE", VODQ_OPT_STR, NULL,                              \
     "CA bundle (PEM) for rediss:// (default: the system's CAs)", (ca), 0, 0},                \
    {"redis-cert-file", "VODQ_REDIS_CERT_FILE", VODQ_OPT_STR, NULL,                          \
     "client certificate (PEM) for rediss://", (cert), 0, 0},                                 \
    {"redis-key-file", "VODQ_REDIS_KEY_FILE", VODQ_OPT_STR, NULL,                            \
     "private key (PEM) of --redis-cert-file", (key), 0, 0}

#define VODQ_REDIS_URL_HELP                                                                   \
    "Redis URL: redis[s]://[user:pass@]host:port/db, unix:///path.sock, "                     \
    "redis+sentinel://h:p[,h:p]/master"

struct vodq_redis_opts {
    const char *url;          /* borrowed */
    int connect_timeout_ms;   /* 0 = 2000 */
    int command_timeout_ms;   /* 0 = 5000; -1 = none (blocking reads, pub/sub) */
    int reconnect_max_ms;     /* cap of the reconnect backoff; 0 = 5000 */
};

struct vodq_redis;

/* Returns a new handle (NULL only on OOM or a bad URL, with err filled).
 * The first connection is made lazily by the first command; call
 * vodq_redis_ping() to connect now. Free with vodq_redis_free(). */
struct vodq_redis *vodq_redis_new(const struct vodq_redis_opts *opts, struct vodq_err *err);
void vodq_redis_free(struct vodq_redis *r);

/* Connects if needed and PINGs. */
enum vodq_rc vodq_redis_ping(struct vodq_redis *r, struct vodq_err *err);

/* Runs one command given as argv (binary-safe). Returns a new reply (the
 * caller frees it) or NULL with err filled on I/O errors. A Redis error
 * reply is returned as a reply of type VODQ_REPLY_ERROR, not as NULL.
 * Reconnects first if the previous command failed, retrying the connect
 * with backoff for up to retry_ms (0 = one attempt). */
struct vodq_reply *vodq_redis_argv(struct vodq_redis *r, int argc, const char **argv,
                                   const size_t *argvlen, struct vodq_err *err);

/* printf-style command (hiredis format: %s, %b with a length, %d...). */
struct vodq_reply *vodq_redis_cmd(struct vodq_redis *r, struct vodq_err *err, const char *fmt, ...);

/* Pipelining: append commands, then read their replies in order. */
enum vodq_rc vodq_redis_append_argv(struct vodq_redis *r, int argc, const char **argv,
                                    const size_t *argvlen, struct vodq_err *err);
struct vodq_reply *vodq_redis_read(struct vodq_redis *r, struct vodq_err *err);

/* Non-blocking use (vodq_watch): the connection's socket (-1 when not
 * connected; it changes on reconnect); write the appended commands without
 * reading; and take a reply if one has arrived, reading the socket at most
 * once and only when poll() says it is readable. read_ready returns NULL
 * with *again set when no whole reply is there yet, or NULL with err filled
 * (and the connection dropped) on an error. */
int vodq_redis_fd(const struct vodq_redis *r);
enum vodq_rc vodq_redis_flush(struct vodq_redis *r, struct vodq_err *err);
struct vodq_reply *vodq_redis_read_ready(struct vodq_redis *r, bool *again, struct vodq_err *err);

/* A Lua script: run as the function `fcall` of a FUNCTION library (loaded once per
 * server, per connection checked), or where the server has no FUNCTION (Redis < 7, or
 * an ACL without function|load), by EVALSHA of `body`. */
struct vodq_script {
    const char *name;         /* for error messages */
    const char *body;         /* Lua text for EVAL */
    const char *fcall;        /* function name in the library */
    const char *library;      /* the library's text (FUNCTION LOAD) */
    const char *library_name; /* its name */
};

/* FCALL (or EVALSHA) of s with the given keys and args (strings); loads the library
 * (or the script) when the server lacks it. Returns the reply like vodq_redis_argv. */
struct vodq_reply *vodq_redis_eval(struct vodq_redis *r, struct vodq_script *s, int nkeys,
                                   int nargs, const char **args, const size_t *arglens,
                                   struct vodq_err *err);
/* Same, appended to the pipeline (read the reply with vodq_redis_read). */
enum vodq_rc vodq_redis_eval_append(struct vodq_redis *r, struct vodq_script *s, int nkeys,
                                    int nargs, const char **args, const size_t *arglens,
                                    struct vodq_err *err);

/* Sets the read timeout for the following commands (-1 = block forever). */
void vodq_redis_set_timeout(struct vodq_redis *r, int timeout_ms);

/* Wakes a thread blocked reading on r (pub/sub) from another thread by
 * shutting its socket down; that read then fails. Safe to race with the
 * owner only in that the owner must not be reconnecting at the time. */
void vodq_redis_interrupt(struct vodq_redis *r);

/* Drops the connection (the next command reconnects; through Sentinel it
 * asks for the master again). */
void vodq_redis_disconnect(struct vodq_redis *r);

/* True while a connection is up. */
bool vodq_redis_connected(const struct vodq_redis *r);

/* Helpers on replies: string value of an element (NULL if absent or not
 * a string), integer value (def if not an integer or a number string). */
const char *vodq_reply_str(const struct vodq_reply *r, size_t i);
long long vodq_reply_int(const struct vodq_reply *r, long long def);

#endif
