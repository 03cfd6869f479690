#!/bin/bash
# deploy/systemd: every unit rates 4.0 or less in `systemd-analyze security`
# (offline), and the daemons speak sd_notify: READY=1 once serving, then
# WATCHDOG=1 at least every half WATCHDOG_USEC, STOPPING=1 on SIGTERM.
. "$VODQ_TESTS/lib.sh"
if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
  for u in "$VODQ_SRC"/deploy/systemd/*.service; do
    score=$(systemd-analyze security --offline=true "$u" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    check "$(basename "$u"): exposure ${score:-?} <= 4.0" python3 -c "import sys; sys.exit(0 if '$score' and float('$score') <= 4.0 else 1)"
    check "$(basename "$u"): Type=notify" grep -q '^Type=notify' "$u"
  done
  for u in vodq-worker vodq-scheduler; do
    check "$u.service has a watchdog" grep -q '^WatchdogSec=' "$VODQ_SRC/deploy/systemd/$u.service"
  done
else
  ok "# skip: systemd-analyze without --offline"
fi

redis_start
# listen: a unix datagram socket as systemd would give, collecting messages
listen() { # listen NAME: socket $T_DIR/NAME.sock, messages appended to $T_DIR/NAME.notify
  python3 - "$T_DIR/$1.sock" "$T_DIR/$1.notify" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.5)
end = time.time() + 90
with open(sys.argv[2], "a") as out:
    while time.time() < end:
        try:
            m = s.recv(4096).decode()
        except socket.timeout:
            continue
        out.write("%.3f %s\n" % (time.time(), m.replace("\n", "|")))
        out.flush()
PY
  T_PIDS+=($!)
  wait_for 5 test -S "$T_DIR/$1.sock"
}
for d in sched work; do listen $d; done
NOTIFY_SOCKET=$T_DIR/sched.sock WATCHDOG_USEC=400000 start_scheduler s1
NOTIFY_SOCKET=$T_DIR/work.sock WATCHDOG_USEC=400000 start_worker w1 --slots-compose 0 --slots-upload 0 --heartbeat-ms 100
for d in sched work; do
  check "$d: READY=1 arrives" wait_for 20 grep -q 'READY=1' "$T_DIR/$d.notify"
done
wd() { grep -c 'WATCHDOG=1' "$T_DIR/$1.notify" || true; }
s0=$(wd sched); w0=$(wd work)
sleep 2
for d in sched work; do
  [ $d = sched ] && n=$(( $(wd sched) - s0 )) || n=$(( $(wd work) - w0 ))
  check "$d: WATCHDOG=1 keeps coming ($n in 2 s, period 0.4 s)" test "$n" -ge 3
done
# the pings stop while the process hangs, as systemd's watchdog needs
kill -STOP "$PID_w1"
sleep 0.3; before=$(grep -c 'WATCHDOG=1' "$T_DIR/work.notify"); sleep 1
expect_eq "no WATCHDOG=1 from a stopped worker" "$before" "$(grep -c 'WATCHDOG=1' "$T_DIR/work.notify")"
kill -CONT "$PID_w1"
kill -TERM "$PID_s1" "$PID_w1"
check "sched: STOPPING=1 on SIGTERM" wait_for 10 grep -q 'STOPPING=1' "$T_DIR/sched.notify"
check "work: STOPPING=1 on SIGTERM" wait_for 15 grep -q 'STOPPING=1' "$T_DIR/work.notify"
# a program without NOTIFY_SOCKET runs as before (no error)
check "no NOTIFY_SOCKET: --help still works" "$VODQ_BIN/vodq-worker" --help >/dev/null
t_done
