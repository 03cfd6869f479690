#!/bin/bash
# Upload benchmark (issue 5, "Benchmark"). Not a timed test, not run in CI.
#
#   tests/bench/upload.sh [SIZE_MIB] [RUNS]        default 1024 MiB, 3 runs
#   env: PART_MIB (16), PARALLEL (4), VODQ_UPLOAD (build/bin/vodq-upload),
#        BENCH_DIR (parent of the temp dir holding Swift's data; default $TMPDIR or /tmp)
#
# Uploads the same random file to the same local Swift s3api server (tests/s3-swift.sh,
# fresh data dir, deleted at exit) with, alternating, run after run:
#   vodq     build/bin/vodq-upload --part-size --parallel (S3 multipart, SigV4)
#   aws-cli  /usr/bin/aws s3 cp (Debian awscli), multipart_chunksize/threshold and
#            max_concurrent_requests set to the same values in a temporary AWS_CONFIG_FILE
#   rclone   rclone copyto, s3 remote (provider Other), --s3-chunk-size/--s3-upload-concurrency
#   ceiling  the same parts PUT as separate plain objects by parallel curl processes
#            (xargs -P), no payload hashing and no multipart logic; the parts are pre-split into
#            files under /dev/shm outside the timing. Swift's s3api rejects unsigned requests,
#            and the native Swift API is not usable here: tempauth keeps its tokens in memcache
#            and no memcached runs, so GET /auth/v1.0 answers 503. So each part is a plain S3
#            PutObject with curl --aws-sigv4 and x-amz-content-sha256: UNSIGNED-PAYLOAD (a header
#            HMAC per request only). The parts are stored but not joined (no multipart
#            complete / manifest), so this is an upper bound for the same server.
# Each uploaded object's size is checked afterwards (S3 HEAD; for the ceiling, the sum of the
# container's objects), so a failed upload is never counted as fast; the object is then
# deleted so the disk does not fill up.
# Measures wall time, client CPU seconds (user+sys) and peak RSS with /usr/bin/time; prints,
# per client, the median MiB/s, median CPU s and the largest peak RSS over the runs, then
# `cpu_ratio <vodq/aws-cli CPU s>` and last `ratio <vodq/aws-cli MiB/s>`.
# Installs awscli, rclone and time with apt-get when missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIZE_MIB=${1:-1024}
RUNS=${2:-3}
PART_MIB=${PART_MIB:-16}
PARALLEL=${PARALLEL:-4}
UP=${VODQ_UPLOAD:-$ROOT/build/bin/vodq-upload}
[ -x "$UP" ] || { echo "vodq-upload not found at $UP (build it or set VODQ_UPLOAD)" >&2; exit 1; }

need=()
[ -x /usr/bin/aws ] || need+=(awscli)
[ -x /usr/bin/rclone ] || need+=(rclone)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi

W=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/vodq-bench.XXXXXX")
SHM=$(mktemp -d /dev/shm/vodq-bench.XXXXXX 2>/dev/null || mktemp -d "$W/shm.XXXXXX")
SW=$W/swift
cleanup() {
  bash "$ROOT/tests/s3-swift.sh" stop "$SW" 2>/dev/null || true
  rm -rf "$W" "$SHM"
}
trap cleanup EXIT

F=$SHM/file.bin
SIZE=$((SIZE_MIB * 1048576))
PART=$((PART_MIB * 1048576))
echo "creating ${SIZE_MIB} MiB file; part ${PART_MIB} MiB, parallel ${PARALLEL}, ${RUNS} runs" >&2
head -c "$SIZE" /dev/urandom >"$F"
mkdir -p "$SHM/parts"
(cd "$SHM/parts" && split -b "$PART" -a 5 -d "$F" p)

bash "$ROOT/tests/s3-swift.sh" start 0 "$SW" >/dev/null
PORT=$(cat "$SW/port")
EP=http://127.0.0.1:$PORT
B=bench
printf 'machine 127.0.0.1 login test:tester password testing\n' >"$W/netrc"
s3curl() {
  curl -sS --netrc-file "$W/netrc" --aws-sigv4 aws:amz:us-east-1:s3 \
    -H x-amz-content-sha256:UNSIGNED-PAYLOAD "$@"
}
s3curl -f -X PUT "$EP/$B" >/dev/null

# clients' configs
export AWS_CONFIG_FILE=$W/aws.conf AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
unset AWS_CA_BUNDLE AWS_PROFILE AWS_SESSION_TOKEN   # plain http; a CA bundle breaks rclone's s3 backend
cat >"$AWS_CONFIG_FILE" <<EOF
[default]
region = us-east-1
s3 =
  addressing_style = path
  multipart_threshold = ${PART_MIB}MB
  multipart_chunksize = ${PART_MIB}MB
  max_concurrent_requests = ${PARALLEL}
EOF
cat >"$W/rclone.conf" <<EOF
[bench]
type = s3
provider = Other
access_key_id = test:tester
secret_access_key = testing
endpoint = $EP
region = us-east-1
force_path_style = true
EOF
export VODQ_S3_ACCESS_KEY=test:tester VODQ_S3_SECRET_KEY=testing

s3size() {   # object size by HEAD, or "missing"
  s3curl -I "$EP/$B/$1" 2>/dev/null | tr -d '\r' |
    awk 'tolower($1)=="content-length:"{n=$2} /^HTTP/{c=$2} END{print (c==200 && n!="") ? n : "missing"}'
}
ceiling_size() {   # sum of the sizes of the parts stored under prefix $1 (no "/": curl 7.88 sigv4 query)
  s3curl -f "$EP/$B?prefix=$1" | grep -o '<Size>[0-9]*</Size>' | tr -dc '0-9\n' |
    awk '{n+=$1} END{print n+0}'
}

CLIENTS="vodq aws-cli rclone ceiling"
: >"$W/results"
for r in $(seq "$RUNS"); do
  for c in $CLIENTS; do
    key=run$r-$c.bin
    sync; sleep 1
    rc=0
    case $c in
      vodq)    /usr/bin/time -f '%e %U %S %M' -o "$W/t" "$UP" "$F" --s3 "s3://$B/$key" \
                 --endpoint "$EP" --path-style --part-size "$PART" --parallel "$PARALLEL" --quiet >/dev/null || rc=$? ;;
      aws-cli) /usr/bin/time -f '%e %U %S %M' -o "$W/t" /usr/bin/aws s3 cp --only-show-errors --endpoint-url "$EP" "$F" "s3://$B/$key" || rc=$? ;;
      rclone)  /usr/bin/time -f '%e %U %S %M' -o "$W/t" /usr/bin/rclone --config "$W/rclone.conf" copyto "$F" "bench:$B/$key" --s3-no-check-bucket \
                 --s3-upload-cutoff "${PART_MIB}M" --s3-chunk-size "${PART_MIB}M" \
                 --s3-upload-concurrency "$PARALLEL" --transfers 1 --checkers 1 -q || rc=$? ;;
      ceiling) /usr/bin/time -f '%e %U %S %M' -o "$W/t" bash -c "ls '$SHM/parts' | xargs -P $PARALLEL -I{} \
                 curl -sSf --netrc-file '$W/netrc' --aws-sigv4 aws:amz:us-east-1:s3 -H x-amz-content-sha256:UNSIGNED-PAYLOAD \
                 -o /dev/null -T '$SHM/parts/{}' '$EP/$B/c$r/{}'" || rc=$? ;;
    esac
    [ "$rc" = 0 ] || { echo "$c run $r failed (exit $rc)" >&2; exit 1; }
    if [ "$c" = ceiling ]; then got=$(ceiling_size "c$r"); else got=$(s3size "$key"); fi
    [ "$got" = "$SIZE" ] || { echo "$c run $r: stored size $got, expected $SIZE" >&2; exit 1; }
    read -r e u s m <"$W/t"
    awk -v c="$c" -v r="$r" -v e="$e" -v u="$u" -v s="$s" -v m="$m" -v mib="$SIZE_MIB" 'BEGIN{
      if (e <= 0) e = 0.01
      printf "%s %d %.1f %.2f %.1f %.2f\n", c, r, mib/e, u+s, m/1024, e}' | tee -a "$W/results" >&2
    # free the disk: the S3 DELETE removes the multipart manifest and its segments
    if [ "$c" = ceiling ]; then
      for p in "$SHM"/parts/*; do s3curl -o /dev/null -X DELETE "$EP/$B/c$r/${p##*/}"; done
    else
      s3curl -o /dev/null -X DELETE "$EP/$B/$key"
    fi
  done
done

echo "# ${SIZE_MIB} MiB, part ${PART_MIB} MiB, parallel ${PARALLEL}, ${RUNS} runs (median MiB/s, median CPU s, max peak RSS)"
summary() {   # $1 = client -> "mibs cpu peak"
  awk -v c="$1" '$1==c{n+=0; t[n]=$3; u[n]=$4; if ($5>m) m=$5; n++} END{
    for (i=0;i<n;i++) for (j=i+1;j<n;j++) { if (t[j]<t[i]) {x=t[i];t[i]=t[j];t[j]=x} if (u[j]<u[i]) {x=u[i];u[i]=u[j];u[j]=x} }
    if (n%2) { mt=t[int(n/2)]; mu=u[int(n/2)] } else { mt=(t[n/2-1]+t[n/2])/2; mu=(u[n/2-1]+u[n/2])/2 }
    printf "%.1f %.2f %.1f\n", mt, mu, m}' "$W/results"
}
for c in $CLIENTS; do
  read -r t u m < <(summary "$c")
  printf '%-8s %8s MiB/s  %7s CPU s  %7s peak MiB\n' "$c" "$t" "$u" "$m"
  eval "T_${c//-/_}=$t U_${c//-/_}=$u M_${c//-/_}=$m"
done
bound=$(( (PARALLEL + 1) * PART_MIB + 16 ))
awk -v m="$M_vodq" -v b="$bound" 'BEGIN{printf "mem_bound %d MiB ((parallel+1) x part + 16): vodq peak %.1f MiB %s\n", b, m, (m <= b) ? "within" : "EXCEEDED"}'
awk -v t="$T_vodq" -v c="$T_ceiling" 'BEGIN{printf "ceiling_ratio %.2f\n", t/c}'
awk -v a="$U_vodq" -v b="$U_aws_cli" 'BEGIN{printf "cpu_ratio %.2f\n", a/b}'
awk -v a="$T_vodq" -v b="$T_aws_cli" 'BEGIN{printf "ratio %.2f\n", a/b}'
