#!/bin/bash
# Local S3 server for tests: OpenStack Swift 2.30 (Debian 12) + s3api + tempauth,
# all four Swift servers in ONE python process.
#   s3-swift.sh start PORT DIR   -> prints the server PID (PORT 0 = pick a free one,
#                                   the port is then in DIR/port)
#   s3-swift.sh stop DIR         -> kills that PID
# Endpoint http://127.0.0.1:PORT, path-style, region us-east-1,
# access key "test:tester", secret "testing" (add users: S3_SWIFT_USERS="acct:user:secret ...").
# Needs: apt-get install --no-install-recommends swift swift-proxy swift-object \
#        swift-container swift-account python3-swift curl
set -euo pipefail
cmd=${1:?start|stop}
if [ "$cmd" = stop ]; then
  D=${2:?dir}; pid=$(cat "$D/pid")
  kill "$pid" 2>/dev/null || exit 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true; exit 0
fi
PORT=${2:?port}; D=${3:?dir}
mkdir -p "$D/node/d1"; D=$(cd "$D" && pwd); rm -f "$D/port" "$D/pid"
users="test:tester:testing ${S3_SWIFT_USERS:-}"

common() { cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = $(id -un)
swift_dir = $D
devices = $D/node
mount_check = false
disable_fallocate = true
log_level = ${S3_SWIFT_LOG_LEVEL:-WARNING}
log_address = /nonexistent
EOF
}
for s in object container account; do
  { common 0; printf '[pipeline:main]\npipeline = %s-server\n[app:%s-server]\nuse = egg:swift#%s\n' $s $s $s; } > "$D/$s-server.conf"
done
{ common "$PORT"; cat <<EOF
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
max_upload_part_num = 10000
[filter:tempauth]
use = egg:swift#tempauth
EOF
  for u in $users; do IFS=: read -r a n k <<<"$u"; echo "user_${a}_${n} = $k .admin"; done
  for f in catch_errors gatekeeper healthcheck proxy_logging listing_formats bulk copy slo dlo; do
    printf '[filter:%s]\nuse = egg:swift#%s\n' "${f/_logging/-logging}" "$f"
    if [ "$f" = slo ]; then echo "max_manifest_segments = 10000"; fi; done
  # tempauth needs a memcache client object; no memcached has to run (errors are only logged)
  printf '[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = 127.0.0.1:11211\n'
} > "$D/proxy-server.conf"

cat > "$D/aio.py" <<'EOF'
import os, sys, time
import eventlet, eventlet.wsgi, eventlet.debug, eventlet.hubs
from swift.common import utils, wsgi
from swift.common.ring import RingBuilder
from swift.obj import server as obj_server
d = sys.argv[1]
utils.eventlet_monkey_patch()
os.environ['TZ'] = 'UTC+0'; time.tzset()
eventlet.hubs.use_hub(utils.get_hub()); eventlet.debug.hub_exceptions(False)
srv = {}
for n in ('object', 'container', 'account', 'proxy'):
    path = os.path.join(d, n + '-server.conf')
    conf, logger, log_name = wsgi._initrp(path, n + '-server', verbose='-v' in sys.argv)
    sock = wsgi.get_socket(conf)          # backends: bind_port 0 = free port
    srv[n] = (conf, sock, path, {'log_name': log_name})
    if n != 'proxy':                      # 1-replica ring pointing at that port
        b = RingBuilder(4, 1, 0)
        b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'weight': 1,
                   'port': sock.getsockname()[1], 'device': 'd1', 'meta': ''})
        b.rebalance(); b.get_ring().save(os.path.join(d, n + '.ring.gz'))
obj_server.global_conf_callback(srv['object'][0], srv['object'][3])
threads = []
for n, (conf, sock, path, gconf) in srv.items():
    app = wsgi.loadapp(path, global_conf=gconf)
    threads.append(eventlet.spawn(
        eventlet.wsgi.server, sock, app, wsgi.NullLogger(),
        custom_pool=wsgi.RestrictedGreenPool(size=1024),
        protocol=wsgi.SwiftHttpProtocol, socket_timeout=60.0,
        capitalize_response_headers=False))
with open(os.path.join(d, 'port.tmp'), 'w') as f:
    f.write('%d\n' % srv['proxy'][1].getsockname()[1])
os.rename(os.path.join(d, 'port.tmp'), os.path.join(d, 'port'))
for t in threads:
    t.wait()
EOF

/usr/bin/python3 "$D/aio.py" "$D" ${S3_SWIFT_VERBOSE:+-v} > "$D/server.log" 2>&1 &
pid=$!; echo "$pid" > "$D/pid"
for _ in $(seq 300); do   # up to 30 s
  if [ -s "$D/port" ] && curl -sf -m 2 -o /dev/null "http://127.0.0.1:$(cat "$D/port")/healthcheck"; then
    echo "$pid"; exit 0
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
echo "swift s3 server failed to start, see $D/server.log" >&2
kill "$pid" 2>/dev/null; exit 1
