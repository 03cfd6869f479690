#!/bin/bash
# The installable library (issue 14, point 4): `cmake --install` of this
# build into a fresh prefix gives vodq.pc, vodqConfig.cmake, headers that
# compile on their own in C and C++, libvodq.so and libvodq.a exporting only
# the public API, man pages and bash completion; examples/seed_flow.c built
# from the prefix with `pkg-config --cflags --libs vodq` runs the seed's flow
# against the test servers: real redis, the scheduler and worker of this
# build, a real Swift S3 (compose twice, upload the last export and a cover,
# release) and the OSS-protocol server with an expired token (the
# token-expired callback refreshes the credentials and the uploads finish).
. "$VODQ_TESTS/lib.sh"
B_DIR=${VODQ_BUILD:-$VODQ_SRC/build}
P=$T_DIR/prefix
cmake --install "$B_DIR" --prefix "$P" >"$T_DIR/install.log" 2>&1
check "cmake --install into a fresh prefix" test -x "$P/bin/vodq-worker"
for p in vodq-scheduler vodq-worker vodqctl vodq-compose vodq-upload; do
  v=$("$P/bin/$p" --version 2>&1 | head -n 1)
  check "$p --version ($v)" grep -q "^$p [0-9]*\.[0-9]*\.[0-9]*" <<<"$v"
  rc=0; "$P/bin/$p" --no-such-flag >/dev/null 2>&1 || rc=$?
  expect_eq "$p: a usage error exits 2" 2 "$rc"
done
rc=0; "$P/bin/vodqctl" --redis redis://127.0.0.1:1 status >/dev/null 2>&1 || rc=$?
expect_eq "vodqctl: a missing argument exits 2 (before connecting)" 2 "$rc"
rc=0; "$P/bin/vodqctl" --redis redis://127.0.0.1:1 frobnicate >/dev/null 2>&1 || rc=$?
expect_eq "vodqctl: an unknown command exits 2" 2 "$rc"
export PKG_CONFIG_PATH=$(dirname "$(find "$P" -name vodq.pc | head -n 1)")
flags=$(pkg-config --cflags --libs vodq)
check "pkg-config finds vodq ($flags)" test -n "$flags"
lib=$(pkg-config --variable=libdir vodq)
san=()
grep -q '^VODQ_SANITIZE:BOOL=ON' "$B_DIR/CMakeCache.txt" && san=(-fsanitize=address,undefined)

# the public headers stand alone: C (strict C99) and C++, all warnings on
check "seed_flow.c builds from the prefix (C99, -Wall -Wextra -Werror)" \
  gcc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Werror "${san[@]}" \
  -o "$T_DIR/seed_flow" "$VODQ_SRC/examples/seed_flow.c" $flags -Wl,-rpath,"$lib"
cat >"$T_DIR/t.cpp" <<'CPP'
#include <vodq/vodq.h>
#include <cstdio>
static_assert(VODQ_VERSION_MAJOR >= 0, "version macros");
int main() {
    vodq_err e = {};
    vodq_client *c = vodq_client_open("redis://127.0.0.1:1", nullptr, &e);
    std::printf("%s %s %d\n", vodq_version(), vodq_rc_name(e.code), c == nullptr);
    return c == nullptr && e.code == VODQ_ERR_IO ? 0 : 1;
}
CPP
check "a C++ file including <vodq/vodq.h> builds and links" \
  g++ -std=c++11 -Wall -Wextra -Werror "${san[@]}" -o "$T_DIR/tpp" "$T_DIR/t.cpp" $flags -Wl,-rpath,"$lib"
out=$("$T_DIR/tpp" 2>&1 || true)
expect_eq "the C++ program calls the library" "$(pkg-config --modversion vodq) io 1" "$out"
check "static link with libvodq.a (pkg-config --static)" \
  g++ -std=c++11 "${san[@]}" -o "$T_DIR/tpp_static" "$T_DIR/t.cpp" -I"$P/include" "$lib/libvodq.a" \
  $(pkg-config --static --libs-only-l vodq | sed 's/-lvodq//')
check "the static program runs" "$T_DIR/tpp_static"

# only the public API leaves the libraries: every defined global symbol is
# declared in the installed headers
public=$(grep -ho 'vodq_[a-z_0-9]*(' "$P/include/vodq/"*.h | tr -d '(' | sort -u)
so_syms=$(nm -D --defined-only "$lib/libvodq.so" | awk '$2 ~ /[TDBR]/ {print $3}' | sed 's/@.*//' | sort -u)
a_syms=$(nm -g --defined-only "$lib/libvodq.a" | awk '$2 ~ /[TDBR]/ {print $3}' | sort -u)
extra_so=$(comm -23 <(echo "$so_syms") <(echo "$public") | tr '\n' ' ')
extra_a=$(comm -23 <(echo "$a_syms") <(echo "$public") | tr '\n' ' ')
expect_eq "libvodq.so exports the public API only" "" "$extra_so"
expect_eq "libvodq.a exports the public API only" "" "$extra_a"
check "libvodq.so exports vodq_watch_step" grep -qx vodq_watch_step <<<"$so_syms"
check "libvodq.so is versioned (VODQ_0)" bash -c "nm -D '$lib/libvodq.so' | grep -q 'vodq_version@@VODQ_0'"

# CMake users: find_package(vodq) and vodq::vodq
mkdir -p "$T_DIR/cm"
cat >"$T_DIR/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(usevodq C)
find_package(vodq 0.1 REQUIRED)
add_executable(use use.c)
target_link_libraries(use PRIVATE vodq::vodq)
CM
printf '#include <vodq/vodq.h>\n#include <stdio.h>\nint main(void){puts(vodq_version());return 0;}\n' >"$T_DIR/cm/use.c"
check "find_package(vodq) + vodq::vodq builds" bash -c \
  "cmake -S '$T_DIR/cm' -B '$T_DIR/cm/b' -DCMAKE_PREFIX_PATH='$P' -DCMAKE_C_FLAGS='${san[*]:-}' -DCMAKE_EXE_LINKER_FLAGS='${san[*]:-}' >'$T_DIR/cm.log' 2>&1 && cmake --build '$T_DIR/cm/b' >>'$T_DIR/cm.log' 2>&1"
expect_eq "and runs" "$(pkg-config --modversion vodq)" "$("$T_DIR/cm/b/use" 2>&1 || true)"

# man pages and completion
for m in man1/vodq-scheduler.1 man1/vodq-worker.1 man1/vodqctl.1 man1/vodq-compose.1 man1/vodq-upload.1 man3/vodq.3; do
  check "man page $m installed" test -s "$P/share/man/$m"
done
check "man pages are well-formed troff" bash -c "for f in '$P'/share/man/man*/*; do groff -man -Tutf8 -ww -z \"\$f\" 2>&1 | grep . && exit 1; done; exit 0"
comp=$P/share/bash-completion/completions
check "bash completion for vodqctl completes commands" bash -c \
  ". '$comp/vodqctl'; COMP_WORDS=(vodqctl re); COMP_CWORD=1; _vodq_complete vodqctl re vodqctl; [[ \" \${COMPREPLY[*]} \" == *' resume '* && \" \${COMPREPLY[*]} \" == *' refresh-auth '* ]]"
check "bash completion for vodq-worker completes flags" env PATH="$P/bin:$PATH" bash -c \
  ". '$comp/vodq-worker'; COMP_WORDS=(vodq-worker --slots-c); COMP_CWORD=1; _vodq_complete vodq-worker --slots-c vodq-worker; [[ \" \${COMPREPLY[*]} \" == *' --slots-compose '* ]]"

# seed_flow against the servers: scheduler and worker from the installed prefix
redis_start
VODQ_BIN=$P/bin
start_scheduler s1 --tick-ms 100
start_worker w1 --slots-compose 1 --slots-upload 2 --slots-sleep 0 --progress-ms 100 --heartbeat-ms 300

# the operator's calls of the public API (what vodqctl uses), from the installed prefix
cat >"$T_DIR/ops.c" <<'C'
#include <vodq/vodq.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define CHECK(what, cond) printf("%s %s\n", (cond) ? "ok" : "FAIL", what)
static void nap(void)
{
    struct timespec t = {0, 100000000};
    nanosleep(&t, NULL);
}
int main(int argc, char **argv)
{
    (void)argc;
    struct vodq_err e = {0};
    /* a program built with older headers: fields past its size are not read */
    struct vodq_client_opts o = {.size = offsetof(struct vodq_client_opts, tls_ca_file),
                                 .redis_url = argv[1], .tls_ca_file = "/nonexistent",
                                 .secret_key_file = "/nonexistent"};
    struct vodq_client *c = vodq_client_open_opts(&o, &e);
    CHECK("open with a short options struct", c != NULL);
    if (!c)
        return 1;
    char id[129], msg[64] = "";
    vodq_submit(c, "{\"id\":\"ops1\",\"type\":\"sleep\",\"sleep\":{\"ms\":1},\"delay_ms\":600000}",
                id, sizeof(id), &e);
    char *l = NULL;
    for (int i = 0; i < 100; i++, nap()) { /* the scheduler creates it delayed */
        free(l);
        l = vodq_job_list(c, "delayed", 10, &e);
        if (l && strstr(l, "\"id\":\"ops1\""))
            break;
    }
    CHECK("vodq_job_list finds the delayed job", l && l[0] == '[' && strstr(l, "\"id\":\"ops1\""));
    free(l);
    CHECK("vodq_job_control pause", vodq_job_control(c, "ops1", "pause", NULL, msg, sizeof(msg), &e) == VODQ_OK &&
                                        !strcmp(msg, "paused"));
    CHECK("vodq_job_control cancel", vodq_job_control(c, "ops1", "cancel", NULL, msg, sizeof(msg), &e) == VODQ_OK &&
                                         !strcmp(msg, "cancelled"));
    CHECK("vodq_job_control refuses a second cancel",
          vodq_job_control(c, "ops1", "cancel", NULL, msg, sizeof(msg), &e) == VODQ_ERR_INVALID);
    char *st = vodq_stats(c, 0, &e);
    CHECK("vodq_stats", st && strstr(st, "\"queue\":\"default\"") && strstr(st, "\"cancelled\":1"));
    free(st);
    char *w = NULL;
    for (int i = 0; i < 50 && !(w && strstr(w, "\"beat_at\"")); i++, nap()) {
        free(w);
        w = vodq_workers(c, &e);
    }
    CHECK("vodq_workers lists the worker", w && strstr(w, "\"info\":{"));
    free(w);
    CHECK("vodq_media_set", vodq_media_set(c, "vid-1", "/m/a.mp4", &e) == VODQ_OK);
    char *m = vodq_media_list(c, &e);
    CHECK("vodq_media_list", m && !strcmp(m, "{\"vid-1\":\"/m/a.mp4\"}"));
    free(m);
    CHECK("vodq_media_remove", vodq_media_remove(c, "vid-1", &e) == VODQ_OK &&
                                   vodq_media_remove(c, "vid-1", &e) == VODQ_ERR_NOTFOUND);
    long long removed = -1, refused = -1;
    CHECK("vodq_purge (nothing old enough)",
          vodq_purge(c, "cancelled", 3600000, &removed, &refused, &e) == VODQ_OK && removed == 0);
    CHECK("vodq_job_remove", vodq_job_remove(c, "ops1", &e) == VODQ_OK &&
                                 vodq_job_remove(c, "ops1", &e) == VODQ_ERR_NOTFOUND);
    char *d = vodq_dead_list(c, &e);
    CHECK("vodq_dead_list", d && !strcmp(d, "[]"));
    free(d);
    vodq_client_close(c);
    return 0;
}
C
check "the operator's API builds from the prefix (C99)" \
  gcc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror "${san[@]}" -o "$T_DIR/ops" "$T_DIR/ops.c" \
  $flags -Wl,-rpath,"$lib"
"$T_DIR/ops" "$REDIS_URL" >"$T_DIR/ops.out" 2>&1 || true
while read -r res what; do
  if [ "$res" = ok ]; then ok "API: $what"; else not_ok "API: $what ($res)"; fi
done <"$T_DIR/ops.out"
expect_eq "every API check ran" 13 "$(grep -c '^ok\|^FAIL' "$T_DIR/ops.out")"

M=$T_DIR/media; mkdir -p "$M" "$T_DIR/exports" "$T_DIR/exports2"
ffmpeg -loglevel error -f lavfi -i testsrc2=size=160x120:rate=25 -t 1.5 -c:v libx264 -preset ultrafast \
  -pix_fmt yuv420p "$M/a.mp4"
ffmpeg -loglevel error -f lavfi -i testsrc2=size=160x120 -frames:v 1 "$M/cover.jpg"
printf '{"version":1,"tracks":[{"clips":[{"type":"video","src":"%s","out":1}]}],"output":{"width":160,"height":120,"fps":25,"preset":"ultrafast"}}' \
  "$M/a.mp4" >"$T_DIR/timeline.json"

if /usr/bin/python3 -c 'import swift' 2>/dev/null; then
  s3_start seedb
  VODQ_S3_URL="s3://$B/s1" AWS_ENDPOINT_URL=$EP AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test:tester \
    AWS_SECRET_ACCESS_KEY=testing timeout 120 "$T_DIR/seed_flow" "$REDIS_URL" sess1 "$T_DIR/timeline.json" \
    "$T_DIR/exports" "$M/cover.jpg" >"$T_DIR/seed_s3.out" 2>"$T_DIR/seed_s3.log"
  expect_eq "seed_flow (S3) exits 0" 0 "$?"
  check "two exports composed" test -s "$T_DIR/exports/export-1.mp4" -a -s "$T_DIR/exports/export-2.mp4"
  s3curl -f -o "$T_DIR/back.mp4" "$EP/$B/s1/video.mp4"
  check "the uploaded video is the LAST export" cmp -s "$T_DIR/back.mp4" "$T_DIR/exports/export-2.mp4"
  s3curl -f -o "$T_DIR/back.jpg" "$EP/$B/s1/cover.jpg"
  check "the cover was uploaded" cmp -s "$T_DIR/back.jpg" "$M/cover.jpg"
  n=$(grep -c ' completed {' "$T_DIR/seed_s3.out" || true)
  expect_eq "on_completed ran for the 4 jobs" 4 "$n"
  check "progress callbacks ran" grep -q '100%' "$T_DIR/seed_s3.log"
  expect_eq "session released (only its tombstone is left)" 1 "$(rcli HGET 'vodq:{default}:session:sess1' released)"
  check "no credential in the example's output" bash -c "! grep -q testing '$T_DIR/seed_s3.out' '$T_DIR/seed_s3.log'"
  # vodq-upload takes the AWS_* variables, and an IP-address endpoint goes path style
  AWS_ENDPOINT_URL=$EP AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing \
    "$P/bin/vodq-upload" "$M/cover.jpg" --s3 "s3://$B/aws-env.jpg" --image --quiet >"$T_DIR/up.log" 2>&1
  expect_eq "vodq-upload with AWS_* variables only, no --path-style, exits 0" 0 "$?"
  s3curl -f -o "$T_DIR/back2.jpg" "$EP/$B/aws-env.jpg"
  check "and the object is there" cmp -s "$T_DIR/back2.jpg" "$M/cover.jpg"
else
  echo "# swift not installed: S3 part skipped"
fi

# VOD with an expired token: the callback refreshes it
OSSD=$T_DIR/oss; mkdir -p "$OSSD"
/usr/bin/python3 "$VODQ_TESTS/oss_server.py" --dir "$OSSD" --port 0 --access-key STS.k \
  --secret ssecret --token T1 --region cn-shanghai >"$T_DIR/oss.log" 2>&1 &
T_PIDS+=($!)
wait_for 10 test -s "$OSSD/port"
OEP=http://127.0.0.1:$(cat "$OSSD/port")
b64() { printf '%s' "$1" | base64 -w0; }
auth() { b64 "{\"AccessKeyId\":\"STS.k\",\"AccessKeySecret\":\"ssecret\",\"SecurityToken\":\"$1\",\"Region\":\"cn-shanghai\",\"Expiration\":\"2099-01-01T00:00:00Z\"}"; }
addr() { b64 "{\"Endpoint\":\"$OEP\",\"Bucket\":\"outin-s\",\"FileName\":\"$1\"}"; }
curl -sf -X POST -H 'Content-Type: application/json' -d '{"token":"T2"}' "$OEP/__ctl/config" >/dev/null
VOD_VIDEO_ADDRESS=$(addr sv/video.mp4) VOD_COVER_ADDRESS=$(addr sv/cover.jpg) VOD_UPLOAD_AUTH=$(auth T1) \
  VOD_REFRESHED_AUTH=$(auth T2) VOD_ENDPOINT=$OEP timeout 120 "$T_DIR/seed_flow" "$REDIS_URL" sess2 \
  "$T_DIR/timeline.json" "$T_DIR/exports2" "$M/cover.jpg" >"$T_DIR/seed_vod.out" 2>"$T_DIR/seed_vod.log"
expect_eq "seed_flow (VOD, expired token) exits 0" 0 "$?"
check "the token_expired callback refreshed the credentials" grep -qE '^refreshes [12]$' "$T_DIR/seed_vod.out"
check "the video reached the OSS server" cmp -s "$OSSD/objects/outin-s/sv/video.mp4" "$T_DIR/exports2/export-2.mp4"
check "the cover reached the OSS server" cmp -s "$OSSD/objects/outin-s/sv/cover.jpg" "$M/cover.jpg"

# a failing job reaches on_failed with its error code (a missing file: notfound/invalid)
bad=$(VOD_VIDEO_ADDRESS=$(addr x.mp4) VOD_COVER_ADDRESS=$(addr x.jpg) VOD_UPLOAD_AUTH=$(auth T2) VOD_ENDPOINT=$OEP \
  timeout 60 "$T_DIR/seed_flow" "$REDIS_URL" sess3 "$T_DIR/timeline.json" /nonexistent/dir "$M/cover.jpg" 2>/dev/null || true)
check "on_failed gets the state and the job's error code ($(head -c 200 <<<"$bad"))" grep -qE '^[^ ]+ dead code=[a-z]+: .+' <<<"$bad"
t_done
