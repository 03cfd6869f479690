#!/usr/bin/env python3
"""k8s_check.py: offline schema check of deploy/k8s/*.yaml and
deploy/docker-compose.yml (no cluster, no schema download).

The shapes below are the Kubernetes API (core/v1, apps/v1, policy/v1,
networking.k8s.io/v1) and KEDA v2 (keda.sh/v1alpha1) fields these files use:
required fields, the keys allowed at each level (so a typo or a field at
the wrong level fails), enumerations and quantities; plus vodq's own rules:
programs in `args:` (tini stays the ENTRYPOINT), worker probes without
Redis, GPU workers on the GPU pool, one KEDA trigger per lane.
Usage: k8s_check.py DEPLOY_DIR; prints one line per problem, exit 1 if any."""
import re
import sys
from pathlib import Path

import yaml

P = []


def bad(where, msg):
    P.append(f"{where}: {msg}")


QTY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")
POD_KEYS = {"containers", "initContainers", "volumes", "securityContext", "nodeSelector",
            "tolerations", "runtimeClassName", "affinity", "serviceAccountName",
            "terminationGracePeriodSeconds", "priorityClassName", "topologySpreadConstraints",
            "imagePullSecrets", "restartPolicy"}
CONTAINER_KEYS = {"name", "image", "command", "args", "env", "envFrom", "ports", "resources",
                  "volumeMounts", "livenessProbe", "readinessProbe", "startupProbe",
                  "securityContext", "imagePullPolicy", "workingDir", "lifecycle"}
PROBE_KEYS = {"httpGet", "exec", "tcpSocket", "grpc", "initialDelaySeconds", "periodSeconds",
              "timeoutSeconds", "failureThreshold", "successThreshold",
              "terminationGracePeriodSeconds"}
TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}


def need(obj, path, where, typ=None):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            bad(where, f"missing {path}")
            return None
        cur = cur[part]
    if typ and not isinstance(cur, typ):
        bad(where, f"{path} must be {typ.__name__}")
        return None
    return cur


def only(obj, allowed, where):
    for k in obj if isinstance(obj, dict) else []:
        if k not in allowed:
            bad(where, f"unknown field {k!r}")


def check_resources(res, where):
    for part in ("requests", "limits"):
        for k, v in (res or {}).get(part, {}).items():
            if not QTY.match(str(v)):
                bad(where, f"resources.{part}.{k}: {v!r} is not a quantity")


def check_probe(p, where, ports):
    only(p, PROBE_KEYS, where)
    handlers = [h for h in ("httpGet", "exec", "tcpSocket", "grpc") if h in p]
    if len(handlers) != 1:
        bad(where, "a probe needs exactly one of httpGet, exec, tcpSocket, grpc")
    hg = p.get("httpGet")
    if hg is not None:
        need(hg, "port", where)
        port = hg.get("port")
        if isinstance(port, str) and port not in ports:
            bad(where, f"httpGet.port {port!r} names no container port")
        if not str(hg.get("path", "/")).startswith("/"):
            bad(where, "httpGet.path must start with /")


def check_pod(spec, where, vodq):
    only(spec, POD_KEYS, where)
    vols = {v.get("name") for v in spec.get("volumes", [])}
    for t in spec.get("tolerations", []):
        only(t, TOLERATION_KEYS, where + ".tolerations")
        if t.get("operator", "Equal") not in ("Exists", "Equal"):
            bad(where, f"toleration operator {t.get('operator')!r}")
        if t.get("effect") not in (None, "NoSchedule", "PreferNoSchedule", "NoExecute"):
            bad(where, f"toleration effect {t.get('effect')!r}")
    cs = need(spec, "containers", where, list) or []
    for c in cs:
        w = f"{where}.containers[{c.get('name')}]"
        only(c, CONTAINER_KEYS, w)
        need(c, "name", w, str)
        need(c, "image", w, str)
        ports = {p.get("name") for p in c.get("ports", []) if "name" in p}
        for p in c.get("ports", []):
            if not isinstance(p.get("containerPort"), int):
                bad(w, "ports[].containerPort must be an integer")
        for e in c.get("env", []):
            if "name" not in e or ("value" in e) == ("valueFrom" in e):
                bad(w, f"env entry {e} needs name and one of value/valueFrom")
            elif "value" in e and not isinstance(e["value"], str):
                bad(w, f"env {e['name']}: value must be a string (quote it)")
        for m in c.get("volumeMounts", []):
            if m.get("name") not in vols:
                bad(w, f"volumeMount {m.get('name')!r} has no volume")
        check_resources(c.get("resources"), w)
        for pk in ("livenessProbe", "readinessProbe", "startupProbe"):
            if pk in c:
                check_probe(c[pk], f"{w}.{pk}", ports)
        if vodq and str(c.get("image", "")).startswith("vodq"):
            if "command" in c:
                bad(w, "vodq containers give the program in args: (command: replaces tini)")
            if not c.get("args"):
                bad(w, "no args: which vodq program?")
    return cs


def check_workload(doc, where, names):
    spec = need(doc, "spec", where, dict) or {}
    sel = need(spec, "selector.matchLabels", where, dict) or {}
    labels = (((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})
    if any(labels.get(k) != v for k, v in sel.items()):
        bad(where, "spec.selector.matchLabels do not match the template's labels")
    pod = need(spec, "template.spec", where, dict) or {}
    claims = [{"name": (t.get("metadata") or {}).get("name")} for t in spec.get("volumeClaimTemplates", [])]
    cs = check_pod(dict(pod, volumes=pod.get("volumes", []) + claims) if claims else pod, where, True)
    name = doc["metadata"]["name"]
    if name.startswith("vodq-worker"):
        for c in cs:
            lp = c.get("livenessProbe")
            if not lp or (lp.get("httpGet") or {}).get("path") != "/livez":
                bad(where, "worker liveness must be httpGet /livez (never Redis)")
            if not any(e.get("name") == "VODQ_HTTP" for e in c.get("env", [])):
                bad(where, "worker needs VODQ_HTTP for its probes and metrics")
    if name == "vodq-worker-gpu":
        for f in ("runtimeClassName", "nodeSelector", "tolerations"):
            if not pod.get(f):
                bad(where, f"GPU workers need {f}")
        if not any("nvidia.com/gpu" in (c.get("resources") or {}).get("limits", {}) for c in cs):
            bad(where, "GPU workers need an nvidia.com/gpu limit")


def check_doc(doc, where, names, lanes):
    av, kind = doc.get("apiVersion"), doc.get("kind")
    need(doc, "metadata.name", where, str)
    shapes = {
        ("v1", "Service"), ("v1", "ConfigMap"), ("v1", "PersistentVolumeClaim"),
        ("v1", "Secret"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
        ("policy/v1", "PodDisruptionBudget"), ("networking.k8s.io/v1", "NetworkPolicy"),
        ("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication"),
    }
    if (av, kind) not in shapes:
        bad(where, f"unknown apiVersion/kind {av}/{kind}")
        return
    spec = doc.get("spec") or {}
    if kind in ("Deployment", "StatefulSet"):
        check_workload(doc, where, names)
        if kind == "StatefulSet":
            need(doc, "spec.serviceName", where, str)
    elif kind == "Service":
        for p in need(doc, "spec.ports", where, list) or []:
            if not isinstance(p.get("port"), int):
                bad(where, "spec.ports[].port must be an integer")
        need(doc, "spec.selector", where, dict)
    elif kind == "ConfigMap":
        for k, v in (doc.get("data") or {}).items():
            if not isinstance(v, str):
                bad(where, f"data.{k} must be a string")
    elif kind == "PersistentVolumeClaim":
        need(doc, "spec.accessModes", where, list)
        st = need(doc, "spec.resources.requests.storage", where)
        if st is not None and not QTY.match(str(st)):
            bad(where, f"storage {st!r} is not a quantity")
    elif kind == "PodDisruptionBudget":
        need(doc, "spec.selector.matchLabels", where, dict)
        if ("minAvailable" in spec) == ("maxUnavailable" in spec):
            bad(where, "a PodDisruptionBudget needs exactly one of minAvailable, maxUnavailable")
        only(spec, {"selector", "minAvailable", "maxUnavailable", "unhealthyPodEvictionPolicy"}, where)
    elif kind == "NetworkPolicy":
        need(doc, "spec.podSelector", where, dict)
        only(spec, {"podSelector", "policyTypes", "ingress", "egress"}, where)
        for t in spec.get("policyTypes", []):
            if t not in ("Ingress", "Egress"):
                bad(where, f"policyType {t!r}")
        for rule in spec.get("ingress", []) + spec.get("egress", []):
            only(rule, {"from", "to", "ports"}, where)
            for p in rule.get("ports", []):
                if p.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
                    bad(where, f"protocol {p.get('protocol')!r}")
    elif kind == "ScaledObject":
        target = need(doc, "spec.scaleTargetRef.name", where, str)
        if target and target not in names.get("Deployment", set()):
            bad(where, f"scaleTargetRef {target!r} is no Deployment here")
        only(spec, {"scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval",
                    "cooldownPeriod", "idleReplicaCount", "advanced", "triggers", "fallback"}, where)
        for t in need(doc, "spec.triggers", where, list) or []:
            md = t.get("metadata") or {}
            if t.get("type") != "redis-streams":
                bad(where, f"trigger type {t.get('type')!r} (vodq scales on redis-streams)")
                continue
            for f in ("stream", "consumerGroup"):
                if not isinstance(md.get(f), str):
                    bad(where, f"redis-streams trigger needs metadata.{f}")
            if not any(k in md for k in ("address", "addressFromEnv", "host", "hostFromEnv")):
                bad(where, "redis-streams trigger needs an address")
            if not any(k in md for k in ("lagCount", "pendingEntriesCount", "streamLength")):
                bad(where, "redis-streams trigger needs lagCount (or pendingEntriesCount)")
            for k, v in md.items():
                if not isinstance(v, str):
                    bad(where, f"trigger metadata {k} must be a string (quote it)")
            if md.get("consumerGroup") != "workers":
                bad(where, "the consumer group is 'workers'")
            m = re.match(r"^vodq:\{[^}]+\}:tasks:(\w+)$", md.get("stream", ""))
            if not m:
                bad(where, f"stream {md.get('stream')!r} is not vodq:{{Q}}:tasks:<lane>")
            else:
                lanes.setdefault(target, set()).add(m.group(1))


def main():
    d = Path(sys.argv[1])
    docs = []
    for f in sorted((d / "k8s").glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(f.read_text())):
            if doc:
                docs.append((f"{f.name}#{i}", doc))
    names = {}
    for w, doc in docs:
        names.setdefault(doc.get("kind"), set()).add((doc.get("metadata") or {}).get("name"))
    lanes = {}
    for w, doc in docs:
        check_doc(doc, f"{w} {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}", names, lanes)
    want = {"vodq-worker": {"compose", "upload", "sleep"}, "vodq-worker-gpu": {"compose_gpu"}}
    for dep, ls in want.items():
        if lanes.get(dep, set()) != ls:
            bad("keda.yaml", f"{dep} must scale on lanes {sorted(ls)}, has {sorted(lanes.get(dep, []))}")
    for kind in ("PodDisruptionBudget", "NetworkPolicy", "ScaledObject"):
        if not names.get(kind):
            bad("k8s", f"no {kind}")
    comp = yaml.safe_load((d / "docker-compose.yml").read_text())
    for name, svc in (comp.get("services") or {}).items():
        if "build" not in svc:
            bad("docker-compose.yml", f"service {name} has no build:")
        if "command" in svc and "entrypoint" in svc:
            bad("docker-compose.yml", f"service {name} replaces the entrypoint")
    df = (d / "Dockerfile").read_text()
    if "HEALTHCHECK" not in df or 'ENTRYPOINT ["/usr/bin/tini"' not in df:
        bad("Dockerfile", "needs a HEALTHCHECK and tini as ENTRYPOINT")
    for p in P:
        print(p)
    print(f"{len(docs)} manifests, {len(P)} problems")
    return 1 if P else 0


if __name__ == "__main__":
    sys.exit(main())
