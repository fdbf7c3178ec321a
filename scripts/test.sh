#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it. Does its own set-up on a fresh
# Debian/Ubuntu machine: host packages, virtualenv, Docker engine, lab images.
# Every stage runs even if an earlier one failed; the exit code and the last line say
# how many stages passed.
#
# usage: scripts/test.sh [STAGE ...]   stages: lint sanity unit integration molecule package
#        BYOM_MOLECULE_SCENARIOS="hardening asterisk_sid" limits the Molecule stage.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$root/.collections"
export PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 NO_COLOR=1

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(lint sanity unit integration molecule package)

set -e
scripts/host-packages.sh
scripts/venv.sh
set +e

passed=0 failed=0 failed_names=()
# One stage with its banner lines; the exit status says whether it passed.
report_stage() {
  local name=$1 t0=$SECONDS
  printf '\n===== stage %s =====\n' "$name"
  if "stage_$name"; then
    printf '===== stage %s: PASSED (%ss) =====\n' "$name" $((SECONDS - t0))
  else
    printf '===== stage %s: FAILED (%ss) =====\n' "$name" $((SECONDS - t0)); return 1
  fi
}
count_stage() {  # name, exit status
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=("$1"); fi
}

stage_lint() {
  yamllint -s . && ansible-lint --profile production
}
stage_sanity() { scripts/sanity.sh; }
stage_unit() { pytest -q -p no:cacheprovider tests/unit && scripts/vapi-urllib3-compat.sh; }
# The tier tests converge several containers of their own (own names, ports and emulators) for
# many minutes, mostly waiting on apt and systemd: each lane (one or more files, space-separated,
# run one after another) runs beside the rest. test_lab_webhooks.py has its own lab container
# and emulator port (8093) and was the rest lane's third-slowest set-up.
integration_lanes=(
  "tests/integration/test_pool_proxy_site.py tests/integration/test_sip_proxy_vrrp.py"
  "tests/integration/test_site_monitoring.py"
  "tests/integration/test_lab_webhooks.py"
)
stage_integration() {
  scripts/docker-engine.sh || return 1
  local rc=0 lane file logdir=.cache/integration-lanes
  local -a ignores pids files
  rm -rf "$logdir"; mkdir -p "$logdir"
  for lane in "${!integration_lanes[@]}"; do
    read -ra files <<<"${integration_lanes[$lane]}"
    for file in "${files[@]}"; do ignores+=("--ignore=$file"); done
    pytest -q -p no:cacheprovider --durations=5 "${files[@]}" >"$logdir/lane-$lane.log" 2>&1 &
    pids+=($!)
  done
  pytest -q -p no:cacheprovider --durations=12 "${ignores[@]}" tests/integration || rc=1
  for lane in "${!integration_lanes[@]}"; do
    wait "${pids[$lane]}" || rc=1
    printf '\n----- integration lane %s -----\n' "${integration_lanes[$lane]}"
    cat "$logdir/lane-$lane.log"
  done
  return $rc
}
stage_molecule() {
  scripts/docker-engine.sh && scripts/lab-images.sh || return 1
  local rc=0 s logdir=.cache/molecule-logs
  local -a scenarios ordered
  if [ -n "${BYOM_MOLECULE_SCENARIOS:-}" ]; then
    read -ra scenarios <<<"$BYOM_MOLECULE_SCENARIOS"
  else
    mapfile -t scenarios < <(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort)
  fi
  # The longest scenario (a source build) starts first so the other lane absorbs the rest.
  for s in "${scenarios[@]}"; do [[ $s == *source* ]] && ordered+=("$s"); done
  for s in "${scenarios[@]}"; do [[ $s == *source* ]] || ordered+=("$s"); done
  rm -rf "$logdir"
  printf '%s\n' "${ordered[@]}" | BYOM_MOLECULE_LOGDIR=$logdir xargs -P "${BYOM_MOLECULE_JOBS:-2}" -I{} scripts/molecule-one.sh {} || rc=1
  for s in "${ordered[@]}"; do
    if [ "$(cat "$logdir/$s.status" 2>/dev/null)" != PASSED ]; then
      printf '\n----- last 100 lines of molecule scenario %s -----\n' "$s"; tail -n 100 "$logdir/$s.log"
    fi
  done
  return $rc
}
# The collection as users install it: the built tarball with ansible-core and only its
# declared dependencies, the lab deployed from there, galaxy-importer (scripts/package.sh).
stage_package() { scripts/package.sh; }

# integration, molecule and package spend most of their time waiting on containers, apt, systemd
# and call timers, and share nothing (own container names, ports and state directories), so
# they run side by side, each into its own log, printed in order as each ends.
# BYOM_PARALLEL_STAGES=0 runs them one after the other.
background=()
for s in "${stages[@]}"; do
  case $s in
    integration|molecule|package)
      if [ "${BYOM_PARALLEL_STAGES:-1}" = 1 ]; then background+=("$s"); else report_stage "$s"; count_stage "$s" $?; fi ;;
    lint|sanity|unit) report_stage "$s"; count_stage "$s" $? ;;
    *) echo "unknown stage: $s" >&2; failed=$((failed + 1)); failed_names+=("$s") ;;
  esac
done
if [ ${#background[@]} -gt 0 ]; then
  # Started once here, not by each stage at the same moment.
  scripts/docker-engine.sh && scripts/lab-images.sh
  stage_logs=.cache/stage-logs
  rm -rf "$stage_logs"; mkdir -p "$stage_logs"
  declare -A stage_pids
  for s in "${background[@]}"; do
    report_stage "$s" >"$stage_logs/$s.log" 2>&1 &
    stage_pids[$s]=$!
    printf '\n===== stage %s started alongside the others (log: %s/%s.log) =====\n' "$s" "$stage_logs" "$s"
  done
  for s in "${background[@]}"; do
    wait "${stage_pids[$s]}"; count_stage "$s" $?
    cat "$stage_logs/$s.log"
  done
fi

printf '\n'
[ $failed -eq 0 ] || printf 'failed stages: %s\n' "${failed_names[*]}"
printf 'stages: %d passed, %d failed\n' "$passed" "$failed"
[ $failed -eq 0 ]
