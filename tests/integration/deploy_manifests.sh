#!/bin/bash
# Deploy files (issue 14, point 6), offline: tests/k8s_check.py checks every
# manifest against the API shapes (required fields, allowed keys, enums,
# quantities) and vodq's rules (args: so tini stays the entry point, worker
# liveness on /livez without Redis, GPU pool placement, a KEDA redis-streams
# trigger per lane on the workers group, PDBs and NetworkPolicies, build: on
# every compose service, a Docker HEALTHCHECK); broken copies must fail;
# the ConfigMap's config files load in the programs.
. "$VODQ_TESTS/lib.sh"
PY=/usr/bin/python3
$PY -c 'import yaml' 2>/dev/null || { echo "# python3-yaml not installed"; exit 77; }
check "deploy/ manifests pass the schema check" $PY "$VODQ_TESTS/k8s_check.py" "$VODQ_SRC/deploy"
# each mutation must be caught
mutate() { # mutate NAME PYTHON-EXPR-ON-TEXT
  rm -rf "$T_DIR/d"; cp -r "$VODQ_SRC/deploy" "$T_DIR/d"
  $PY - "$T_DIR/d" "$2" <<'PY'
import sys, pathlib
d = pathlib.Path(sys.argv[1]); exec(sys.argv[2])
PY
  if $PY "$VODQ_TESTS/k8s_check.py" "$T_DIR/d" >"$T_DIR/m.out" 2>&1; then not_ok "catches: $1"; else ok "catches: $1 ($(head -n 1 "$T_DIR/m.out"))"; fi
}
W='p = d / "k8s/worker.yaml"; s = p.read_text()'
mutate "command: replacing tini" "$W; p.write_text(s.replace('args: [\"vodq-worker\"', 'command: [\"vodq-worker\"'))"
mutate "a worker liveness probe on Redis" "$W; p.write_text(s.replace('path: /livez, port: metrics}\n            initialDelaySeconds', 'path: /healthz, port: metrics}\n            initialDelaySeconds'))"
mutate "a field at the wrong level" "$W; p.write_text(s.replace('      terminationGracePeriodSeconds: 20', '      terminationGracePeriodSecond: 20'))"
mutate "a probe on an unknown port name" "$W; p.write_text(s.replace('port: metrics}', 'port: metric}', 1))"
mutate "an unquoted env value" "$W; p.write_text(s.replace('value: \"0.0.0.0:9100\"', 'value: 9100'))"
mutate "GPU workers without tolerations" "p = d / 'k8s/worker-gpu.yaml'; s = p.read_text(); p.write_text(s.replace('tolerations:', 'x-tolerations:'))"
mutate "a lane without a KEDA trigger" "p = d / 'k8s/keda.yaml'; s = p.read_text(); p.write_text(s.replace('tasks:upload', 'tasks:uploads'))"
mutate "a PDB with both budgets" "p = d / 'k8s/policy.yaml'; s = p.read_text(); p.write_text(s.replace('  maxUnavailable: 1\n', '  maxUnavailable: 1\n  minAvailable: 1\n', 1))"
mutate "a compose service without build:" "p = d / 'docker-compose.yml'; s = p.read_text(); p.write_text(s.replace('    build:\n      context: ..\n      dockerfile: deploy/Dockerfile\n    image: vodq:latest\n    command: [\"vodq-worker\"]', '    image: vodq:latest\n    command: [\"vodq-worker\"]'))"
# the ConfigMap's files are valid configs of the programs they are for
$PY - "$VODQ_SRC/deploy/k8s/configmap.yaml" "$T_DIR" <<'PY'
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    for name, text in (doc or {}).get("data", {}).items():
        open(f"{sys.argv[2]}/{name}", "w").write(text)
PY
check "configmap scheduler.conf loads in vodq-scheduler" "$VODQ_BIN/vodq-scheduler" --config "$T_DIR/scheduler.conf" --help
check "configmap worker.conf loads in vodq-worker" "$VODQ_BIN/vodq-worker" --config "$T_DIR/worker.conf" --help
check "deploy/vodq.conf.example loads in every program" bash -c "for p in vodq-scheduler vodq-worker vodqctl; do '$VODQ_BIN/'\$p --config '$VODQ_SRC/deploy/vodq.conf.example' --help >/dev/null || exit 1; done"
t_done
