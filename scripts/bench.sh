#!/usr/bin/env bash
# The benchmark (`make bench`): capacity, setup latency, stock-Asterisk ratio and GitOps run
# cost on this machine, in one bounded run. Writes bench/results.json and prints it.
# What each figure means: bench/README.md and docs/performance.md.
#
# Phases (each bounded by `timeout`; the whole run by BENCH_MAX_S):
#   0. set up the machine (packages, .venv, Docker, the sid image); wait until it is quiet
#   1. fresh lab container byom-bench-vps + our own Vapi emulator: site.yml cold, then again
#   2. byom-bench-stock: Debian's asterisk package, package defaults, bench/stock/*.conf
#   3. playbooks/loadtest.yml against ours (20 ms media: ramp with edge latency/jitter, call
#      rate, silent legs, soak), then stock (ramp only), then stock with its file limit raised
#   4. bench/assemble.py -> bench/results.json
#   5. other benches, one short block each, merging their keys into results.json:
#      bench/webhooks.py: the Vapi webhook receiver (key "webhooks"; BENCH_SKIP_WEBHOOKS=1 skips)
#      bench/proxy.py: the Kamailio proxy tier, 2 nodes (key "proxy"; BENCH_SKIP_PROXY=1 skips)
#      bench/metrics_cost.py: CPU the edge's metrics add at BENCH_METRICS_CALLS (300) held calls
#      (keys "metrics_cost", "metrics_cpu_overhead_pct"; BENCH_SKIP_METRICS=1 skips)
# Knobs: BENCH_MAX_S (5400), BENCH_QUIET_MAX_S (900: give up waiting for load < 1.0 and run
# anyway, flagged), BENCH_QUIET_LOAD (1.0), BENCH_KEEP=1 (keep the containers),
# BENCH_EMULATOR_PORT (8189), BENCH_SKIP_CONVERGE=1 / BENCH_SKIP_STOCK=1 (partial runs),
# BENCH_LOADTEST_VARS (extra vars file for both ramps, default bench/loadtest-vars.yml),
# BENCH_SOAK_S (1800: the soak at 60% of the measured capacity; 0 skips it),
# BENCH_EXTRA_PTIME (unset; e.g. 30: one more ramp of ours at that packet time, an extra line),
# BENCH_SKIP_STOCK_TUNED=1 (no "stock, file limit raised" baseline).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/systemd-container.sh
. "$root/scripts/systemd-container.sh"
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$root/.collections"
export ANSIBLE_CONFIG="$root/ansible.cfg"

out=$root/bench/out
results=$root/bench/results.json
vps=${BENCH_VPS_CONTAINER:-byom-bench-vps}
stock=${BENCH_STOCK_CONTAINER:-byom-bench-stock}
image=${BENCH_IMAGE:-localhost/byom-vps:debian-sid}
emu_port=${BENCH_EMULATOR_PORT:-8189}
emu_url="http://127.0.0.1:$emu_port"
max_s=${BENCH_MAX_S:-5400}
quiet_max_s=${BENCH_QUIET_MAX_S:-900}
quiet_load=${BENCH_QUIET_LOAD:-1.0}
lt_vars=${BENCH_LOADTEST_VARS:-$root/bench/loadtest-vars.yml}
soak_s=${BENCH_SOAK_S:-1800}
# The stock baselines and the extra packet-time ramp measure capacity only.
ramp_only='{"loadtest_cps_rates": [], "loadtest_silent_legs": false, "loadtest_soak_s": 0}'
export BENCH_VPS_CONTAINER=$vps BENCH_STOCK_CONTAINER=$stock

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
secs() { python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))' "$1" "$2"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
http_get() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }
http_delete() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="DELETE"), timeout=5)' "$1"
}

# Remaining seconds of the whole-run budget (phase 0's quiet wait does not count).
budget_start=""
remaining() { python3 -c 'import sys, time; print(max(1, int(float(sys.argv[1]) + int(sys.argv[2]) - time.time())))' "$budget_start" "$max_s"; }

emu_pid=""
sysctl_restore=()   # "key=old value" pairs set on the host by host_kernel_for_load
cleanup() {
  if [ -n "$emu_pid" ] && kill -0 "$emu_pid" 2>/dev/null; then kill "$emu_pid" || true; fi
  local kv
  for kv in "${sysctl_restore[@]}"; do sysctl -q -w "$kv" >/dev/null 2>&1 || log "could not restore $kv"; done
  if [ "${BENCH_KEEP:-0}" != 1 ]; then
    for c in "$vps" "$stock"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  fi
}
trap cleanup EXIT

phase_json() { python3 - "$out/phases.json" "$@" <<'EOF'
import json, sys
path, pairs = sys.argv[1], sys.argv[2:]
try:
    data = json.load(open(path))
except (OSError, ValueError):
    data = {}
for pair in pairs:
    key, _, value = pair.partition("=")
    try:
        data[key] = json.loads(value)
    except ValueError:
        data[key] = value
json.dump(data, open(path, "w"), indent=2)
EOF
}

# /tmp is NOT a tmpfs here: `docker cp` cannot write into tmpfs mounts.
container_fresh() {
  docker rm -f "$1" >/dev/null 2>&1 || true
  systemd_container_run "$1" "$image"
  systemd_container_wait "$1" || die "systemd in $1 did not come up"
}

wait_quiet() {
  local start quiet_since=""
  start=$(date +%s)
  log "waiting for a quiet machine: load average < $quiet_load for 60 s (at most ${quiet_max_s} s)"
  while [ $(( $(date +%s) - start )) -lt "$quiet_max_s" ]; do
    if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$(load1)" "$quiet_load"; then
      quiet_since=${quiet_since:-$(date +%s)}
      if [ $(( $(date +%s) - quiet_since )) -ge 60 ]; then return 0; fi
    else
      quiet_since=""
    fi
    sleep 5
  done
  return 1
}

# ---------------------------------------------------------------- 0. machine
mkdir -p "$out"
rm -f "$out/phases.json" "$results"
scripts/host-packages.sh
scripts/venv.sh
scripts/docker-engine.sh
scripts/lab-images.sh debian-sid
quiet=false
if wait_quiet; then quiet=true; else log "machine never got quiet: figures will be flagged as measured under contention"; fi
phase_json "quiet_reached=$quiet" "machine_load_before=\"$(cut -d' ' -f1-3 /proc/loadavg)\"" \
  "bench_started=\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\""
budget_start=$(date +%s)

# ---------------------------------------------------------------- 1. converge cold + rerun
if [ "${BENCH_SKIP_CONVERGE:-0}" != 1 ]; then
  log "starting the bench's Vapi emulator on $emu_url"
  rm -f "$out/vapi-state.json"
  "$root/.venv/bin/python" tests/vapi_emulator/server.py --host 127.0.0.1 --port "$emu_port" \
    --api-key byom-lab-key --state-file "$out/vapi-state.json" >"$out/emulator.log" 2>&1 &
  emu_pid=$!
  for _ in $(seq 1 50); do http_get "$emu_url/_emulator/requests" >/dev/null 2>&1 && break; sleep 0.2; done
  http_get "$emu_url/_emulator/requests" >/dev/null || die "the Vapi emulator did not answer (log: $out/emulator.log)"

  log "fresh lab container $vps"
  container_fresh "$vps"
  export BYOM_LAB_CONTAINER=$vps BYOM_LAB_EMULATOR_URL=$emu_url
  site=(ansible-playbook site.yml -i inventories/lab -e @bench/lab-vars.yml)
  log "site.yml, cold"
  t0=$(now)
  timeout "$(remaining)" "${site[@]}" >"$out/converge-cold.log" 2>&1 || die "cold site.yml failed: $out/converge-cold.log"
  t1=$(now)
  phase_json "converge_cold_s=$(secs "$t0" "$t1")"
  http_delete "$emu_url/_emulator/requests"
  log "site.yml, re-run"
  t0=$(now)
  # profile_tasks: per-task durations at the end of the log, to see where a re-run spends its time.
  ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks PROFILE_TASKS_TASK_OUTPUT_LIMIT=25 \
    timeout "$(remaining)" "${site[@]}" >"$out/rerun.log" 2>&1 || die "site.yml re-run failed: $out/rerun.log"
  t1=$(now)
  http_get "$emu_url/_emulator/requests" >"$out/emulator-requests.json"
  phase_json "rerun_s=$(secs "$t0" "$t1")" "rerun_log=\"$out/rerun.log\""
  kill "$emu_pid" 2>/dev/null || true
  emu_pid=""
fi

# ---------------------------------------------------------------- 1b. the re-run beside the old engine
# Issue 14's measure: the same re-run for the tree before the engine moved into plugins
# (BENCH_RERUN_OLD, 8dc8e43) and this one, alternating pair by pair so that load drift weighs on
# both (bench/rerun-compare.sh: its own two lab containers and emulators). BENCH_SKIP_RERUN_COMPARE=1 skips.
if [ "${BENCH_SKIP_RERUN_COMPARE:-0}" != 1 ]; then
  log "re-run beside ${BENCH_RERUN_OLD:-8dc8e43}: ${BENCH_RERUN_PAIRS:-5} alternating pairs (log: $out/rerun-compare.log)"
  if RERUN_NAME=byom-bench-rerun timeout "$(remaining)" bench/rerun-compare.sh "${BENCH_RERUN_OLD:-8dc8e43}" "${BENCH_RERUN_PAIRS:-5}" \
       >"$out/rerun-compare.txt" 2>"$out/rerun-compare.log"; then
    # "old  median 13.1 s (...)", "new  median 10.7 s (...)", "new/old paired ratio median 0.76 over 5 pairs; ..."
    read -r old_med new_med ratio < <(awk '/^old  median/ {o=$3} /^new  median/ {n=$3} /paired ratio median/ {r=$5}
                                          END {print o, n, r}' "$out/rerun-compare.txt")
    phase_json "rerun_old_commit=\"${BENCH_RERUN_OLD:-8dc8e43}\"" "rerun_old_median_s=$old_med" \
      "rerun_new_median_s=$new_med" "rerun_paired_ratio=$ratio"
  else
    log "rerun-compare failed: see $out/rerun-compare.log"
  fi
fi

# ---------------------------------------------------------------- 2. stock Asterisk
if [ "${BENCH_SKIP_STOCK:-0}" != 1 ]; then
  log "stock Asterisk container $stock (Debian package, package defaults)"
  container_fresh "$stock"
  # sid's Release file in the archive snapshot is expired, hence Check-Valid-Until=false.
  timeout 600 docker exec -e DEBIAN_FRONTEND=noninteractive "$stock" sh -c \
    'apt-get -qq -o Acquire::Check-Valid-Until=false update >/dev/null &&
     apt-get install -y -qq --no-install-recommends asterisk sip-tester nftables >/dev/null' \
    || die "could not install asterisk in $stock"
  for f in pjsip.conf extensions.conf; do
    docker cp "bench/stock/$f" "$stock:/etc/asterisk/$f"
    docker exec "$stock" chown asterisk:asterisk "/etc/asterisk/$f"
  done
  docker exec "$stock" systemctl restart asterisk
  for _ in $(seq 1 30); do
    docker exec "$stock" asterisk -rx 'pjsip show endpoint vapi' 2>/dev/null | grep -q 'Endpoint:  vapi' && break
    sleep 1
  done
fi

# ---------------------------------------------------------------- 3. load tests
loadtest() {
  local host=$1 dir=$2 name
  shift 2
  name=$(basename "$dir")
  rm -rf "$dir"
  log "loadtest.yml against $host -> $name (log: $out/$name.log)"
  timeout "$(remaining)" ansible-playbook playbooks/loadtest.yml -i bench/inventory.yml \
    -e "loadtest_hosts=$host" -e @"$lt_vars" -e "loadtest_output_dir=$dir" "$@" \
    >"$out/$name.log" 2>&1 || log "loadtest against $host failed or timed out: see $out/$name.log"
  [ -f "$dir/$host/table.txt" ] && cat "$dir/$host/table.txt" >&2
  return 0
}
# The stock package with only its open-file limit raised (16384, as the asterisk role sets it):
# a baseline that does not fail on file descriptors, so stock_tuned_ratio measures the cost or
# gain of our configuration itself.
stock_raise_file_limit() {
  docker exec "$stock" sh -c '
    sed -i "s/^[;[:space:]]*maxfiles[[:space:]]*=.*//" /etc/asterisk/asterisk.conf &&
    sed -i "/^\[options\]/a maxfiles = 16384" /etc/asterisk/asterisk.conf &&
    mkdir -p /etc/systemd/system/asterisk.service.d &&
    printf "[Service]\nLimitNOFILE=16384\n" >/etc/systemd/system/asterisk.service.d/nofile.conf &&
    systemctl daemon-reload && systemctl restart asterisk' || { log "could not raise the stock file limit"; return 1; }
  for _ in $(seq 1 30); do
    docker exec "$stock" asterisk -rx 'pjsip show endpoint vapi' 2>/dev/null | grep -q 'Endpoint:  vapi' && break
    sleep 1
  done
  log "stock Asterisk file limit: $(docker exec "$stock" sh -c 'grep "open files" /proc/$(pidof asterisk)/limits' | tr -s ' ')"
}
# The lab container shares the host's kernel and cannot write /proc/sys, so the kernel settings
# the hardening role wrote on the edge (/etc/sysctl.d/60-byom-telephony.conf, applied at boot on
# a real VPS) are applied to the host for the load tests, then restored. One more setting is for
# the load generator, not the edge: SIPp's -rtp_echo receives every call's RTP on ONE socket
# (25,000 packets/s at 500 calls), and the default 208 KiB buffer overflows at the first
# scheduling hiccup; Asterisk has a socket per call leg. BENCH_HOST_SYSCTL=0 skips all of it.
host_kernel_for_load() {
  local settings key value old applied=()
  [ "${BENCH_HOST_SYSCTL:-1}" = 1 ] || { log "host kernel settings left alone (BENCH_HOST_SYSCTL=0)"; return 0; }
  settings=$(docker exec "$vps" sh -c 'cat /etc/sysctl.d/60-byom-telephony.conf 2>/dev/null' \
             | sed -n 's/^[[:space:]]*\([a-z0-9_.]*\)[[:space:]]*=[[:space:]]*\([^[:space:]#]*\).*/\1=\2/p')
  settings+=$'\n'"net.core.rmem_default=${BENCH_GENERATOR_RMEM_DEFAULT:-4194304}"
  while IFS='=' read -r key value; do
    [ -n "$key" ] || continue
    old=$(sysctl -n "$key" 2>/dev/null) || { log "host has no $key: not applied"; continue; }
    old=$(printf '%s' "$old" | tr -s '[:space:]' ' ')
    if sysctl -q -w "$key=$value" >/dev/null 2>&1; then
      sysctl_restore+=("$key=$old"); applied+=("\"$key\": \"$value (was $old)\"")
    else
      log "could not set $key=$value on the host: not applied"
    fi
  done <<<"$settings"
  log "host kernel for the load tests: ${applied[*]:-nothing applied}"
  phase_json "host_sysctl_for_load={$(IFS=,; printf '%s' "${applied[*]}")}"
}
docker inspect "$vps" >/dev/null 2>&1 && host_kernel_for_load
phase_json "load_before_loadtest=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
if docker inspect "$vps" >/dev/null 2>&1; then
  loadtest byom-bench-vps "$out/loadtest-ours" -e "loadtest_soak_s=$soak_s"
  if [ -n "${BENCH_EXTRA_PTIME:-}" ]; then
    loadtest byom-bench-vps "$out/loadtest-ours-extra" -e "$ramp_only" -e "loadtest_ptime_ms=$BENCH_EXTRA_PTIME"
  fi
fi
if docker inspect "$stock" >/dev/null 2>&1; then
  loadtest byom-bench-stock "$out/loadtest-stock" -e "$ramp_only"
  if [ "${BENCH_SKIP_STOCK_TUNED:-0}" != 1 ] && stock_raise_file_limit; then
    loadtest byom-bench-stock "$out/loadtest-stock-tuned" -e "$ramp_only" -e loadtest_label=stock-tuned
  fi
fi

# ---------------------------------------------------------------- 4. results
phase_json "bench_duration_s=$(( $(date +%s) - budget_start ))"
python3 bench/assemble.py --out "$results" --phases "$out/phases.json" \
  --ours "$out/loadtest-ours/byom-bench-vps/results.json" \
  --stock "$out/loadtest-stock/byom-bench-stock/results.json" \
  --stock-tuned "$out/loadtest-stock-tuned/byom-bench-stock/results.json" \
  --ours-extra "$out/loadtest-ours-extra/byom-bench-vps/results.json" \
  --emulator-log "$out/emulator-requests.json"

# ---------------------------------------------------------------- 5. other benches
# One short block per bench below: bounded, loopback only, merging its own keys into
# results.json (see bench/webhooks.py for the pattern).

# The Vapi webhook receiver: merges the key "webhooks".
if [ "${BENCH_SKIP_WEBHOOKS:-0}" != 1 ]; then
  log "webhook receiver: accept rate, accept p99, sync-lane p99, drain rate"
  timeout 600 python3 bench/webhooks.py --out "$results" >"$out/webhooks.log" 2>&1 \
    || log "webhook bench failed: see $out/webhooks.log"
fi
# The Kamailio proxy tier (phase 6 in bench/README.md):
# Its own containers (byom-bench-proxy-*: two Asterisk nodes and Kamailio) and emulator; merges
# "proxy", proxy_cps_max, proxy_added_setup_ms_p99, failover_s and calls_lost_on_failover into
# results.json. BENCH_SKIP_PROXY=1 skips.
if [ "${BENCH_SKIP_PROXY:-0}" != 1 ]; then
  log "proxy tier: added setup p99, spread, drain, session attempt rate, failover (node killed)"
  timeout 2100 "$root/.venv/bin/python" bench/proxy.py --out "$results" >"$out/proxy.log" 2>&1 \
    || log "proxy bench failed: see $out/proxy.log"
fi
# The metrics cost (phase 7 in bench/README.md):
# site.yml again on the bench edge with metrics on, then one loadtest step held while the
# collector and node-exporter are measured; merges "metrics_cost" into results.json.
if [ "${BENCH_SKIP_METRICS:-0}" != 1 ] && docker inspect "$vps" >/dev/null 2>&1; then
  log "metrics cost at ${BENCH_METRICS_CALLS:-300} calls (log: $out/metrics-cost.log)"
  timeout 1800 python3 bench/metrics_cost.py --container "$vps" --calls "${BENCH_METRICS_CALLS:-300}" --out "$results" \
    >"$out/metrics-cost.log" 2>&1 || log "metrics cost bench failed: see $out/metrics-cost.log"
fi
log "written: $results"
