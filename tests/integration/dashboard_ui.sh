#!/bin/bash
# The dashboard (issue 14, point 1) in Debian's headless chromium with
# playwright-core (tests/ui, installed by deploy/setup.sh): the pages load
# without a console error, a running job's progress bar moves (fed by
# Server-Sent Events on /events), clicking cancel ends the job; screenshots
# go to the build directory (dashboard-screenshots/). Also the REST calls
# under it, with curl. Exits 77 only when chromium is not installed.
. "$VODQ_TESTS/lib.sh"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || { echo "# chromium not installed"; exit 77; }
UI=$VODQ_TESTS/ui
if [ ! -d "$UI/node_modules/playwright-core" ]; then
  (cd "$UI" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null 2>&1) || true
fi
check "playwright-core is installed in tests/ui (deploy/setup.sh)" test -d "$UI/node_modules/playwright-core"
redis_start
SP=$(free_port)
ADMIN=admin-token-$RANDOM-0123456789abcdef
READ=read-token-$RANDOM-0123456789abcdef
printf 'admin %s\nread %s\n' "$ADMIN" "$READ" >"$T_DIR/tokens"
chmod 600 "$T_DIR/tokens"
start_scheduler s1 --tick-ms 100 --http "127.0.0.1:$SP" --http-token-file "$T_DIR/tokens"
start_worker w1 --slots-compose 0 --slots-upload 0 --slots-sleep 2 --progress-ms 100
U=http://127.0.0.1:$SP
echo '{"id":"ui1","type":"sleep","session":"sess-ui","sleep":{"ms":120000}}' | ctl submit - >/dev/null
echo '{"id":"ui-dead","type":"sleep","max_attempts":1,"sleep":{"ms":1,"fail_times":1,"permanent":true}}' | ctl submit - >/dev/null
check "job runs" wait_state ui1 active 10
check "a job goes dead" wait_state ui-dead dead 10

# the REST calls (one python run: each start costs on a loaded machine)
for i in $(seq 5); do echo "{\"id\":\"p$i\",\"type\":\"sleep\",\"sleep\":{\"ms\":1}}" | ctl submit - >/dev/null; done
wait_for 10 bash -c "[ \"\$(redis-cli -p $REDIS_PORT HGET 'vodq:{default}:job:p5' state)\" = succeeded ]"
python3 - "$U" "$ADMIN" "$READ" >"$T_DIR/rest.out" 2>&1 <<'PY' || true
import json, sys, urllib.request, urllib.error
U, ADMIN, READ = sys.argv[1:4]
def call(path, method="GET", body=None, token=ADMIN):
    h = {"Authorization": "Bearer " + token} if token else {}
    req = urllib.request.Request(U + path, method=method, data=body, headers=h)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
def check(what, cond):
    print(("ok - " if cond else "not ok - ") + what)
ids = lambda d: ",".join(j["id"] for j in d["jobs"])
check("GET /jobs?state=active finds the running job", ids(call("/jobs?state=active")[1]) == "ui1")
check("GET /jobs?session= filters on the session", ids(call("/jobs?session=sess-ui")[1]) == "ui1")
check("GET /jobs?type=upload is empty", call("/jobs?type=upload")[1]["jobs"] == [])
seen, cur, n = [], None, 0
while n < 50:
    d = call("/jobs?limit=2" + ("&cursor=" + cur if cur else ""))[1]; n += 1
    seen += [j["id"] for j in d["jobs"]]; cur = d["cursor"]
    if not cur: break
check(f"paging with cursor walks all 7 jobs once ({len(seen)} in {n} pages)", sorted(seen) == sorted(set(seen)) and len(seen) == 7)
check("a bad state is refused with 400", call("/jobs?state=bogus")[0] == 400)
check("GET /sessions/{id}", call("/sessions/sess-ui")[1].get("last_job") == "ui1")
w = call("/workers")[1]["workers"]
check("GET /workers lists w1 with its slots", w and w[0]["id"] == "w1" and w[0]["info"]["slots"]["sleep"] == 2)
dd = call("/dead")[1]["dead"]
check("GET /dead lists the dead job with its code", dd and dd[0]["job"] == "ui-dead" and dd[0]["code"] == "io")
check("POST /jobs/{id}/retry brings it back", call("/jobs/ui-dead/retry", "POST", b"")[0] == 200)
check("POST to an unknown job: 404", call("/jobs/nope/pause", "POST", b"")[0] == 404)
check("POST /jobs/{id}/auth without a body: 400", call("/jobs/ui1/auth", "POST", b"")[0] == 400)
for p in ["/jobs", "/jobs/ui1/events", "/workers", "/sessions/sess-ui", "/dead", "/api/queues", "/events?job=ui1"]:
    check(f"GET {p} without a token: 401", call(p, token=None)[0] == 401)
for v in ["pause", "resume", "cancel", "retry", "auth"]:
    check(f"POST /jobs/ui1/{v} without a token: 401", call(f"/jobs/ui1/{v}", "POST", b"", token=None)[0] == 401)
    check(f"POST /jobs/ui1/{v} with a read token: 403", call(f"/jobs/ui1/{v}", "POST", b"", token=READ)[0] == 403)
check("GET /workers with a read token: 200", call("/workers", token=READ)[0] == 200)
check("GET /events with a wrong ?token=: 401", call("/events?job=ui1&token=" + "x" * 30, token=None)[0] == 401)
check("?token= is not accepted on other routes", call("/jobs?token=" + READ, token=None)[0] == 401)
q = call("/api/queues")[1]
check("GET /api/queues: the sleep lane runs the job", [l["running"] >= 1 for l in q["lanes"] if l["lane"] == "sleep"] == [True])
PY
while read -r line; do case $line in "ok - "*) ok "${line#ok - }" ;; "not ok - "*) not_ok "${line#not ok - }" ;; *) echo "# $line" ;; esac; done <"$T_DIR/rest.out"
check "GET /jobs/{id}/events has its state events" bash -c "curl -sf -H 'Authorization: Bearer $READ' '$U/jobs/ui1/events' | grep -q '\"state\":\"active\"'"
sse=$(timeout 3 curl -sN "$U/events?job=ui1&token=$READ" || true)
check "/events streams the job's progress (SSE)" grep -q '^data: {.*"type":"progress"' <<<"$sse"
check "the dashboard is served from the binary, without a token" bash -c "curl -sf '$U/' | grep -q '<script src=\"/app.js\"' && curl -sf '$U/app.js' >/dev/null"

# the browser
SHOTS=${VODQ_BUILD:-$T_DIR}/dashboard-screenshots
mkdir -p "$SHOTS"
rc=0; node "$UI/dashboard.js" "$U" ui1 "$SHOTS" "$ADMIN" >"$T_DIR/ui.out" 2>&1 || rc=$?
while read -r line; do case $line in "ok - "*) ok "${line#ok - }" ;; "not ok - "*) not_ok "${line#not ok - }" ;; esac; done <"$T_DIR/ui.out"
[ "$rc" = 0 ] || { not_ok "dashboard.js exited $rc"; grep -v '^ok - \|^not ok - ' "$T_DIR/ui.out" >&2; }
check "screenshots saved in $SHOTS" test -s "$SHOTS/job-running.png" -a -s "$SHOTS/job-cancelled.png"
t_done
