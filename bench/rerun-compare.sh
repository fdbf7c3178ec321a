#!/usr/bin/env bash
# The GitOps re-run of two trees side by side: `site.yml -e @bench/lab-vars.yml` against an already
# converged lab container, as phase 1 of scripts/bench.sh times it, for an older commit (default
# 8dc8e43, the state before the read-once engine moved into plugins) and this tree, alternating
# run by run (A B A B ...) so that a machine whose load drifts weighs on both alike.
# Prints each run's wall time and changed= count, then the medians and the median of the paired
# new/old ratios. Each tree gets its own lab container and emulator (scripts/lab.sh knobs).
#
# usage: bench/rerun-compare.sh [OLD_COMMIT] [PAIRS]       (defaults: 8dc8e43, 5)
# Knobs: RERUN_OLD_PORT / RERUN_NEW_PORT (8130 / 8131), RERUN_NAME (byom-rerun: containers
# <name>-old and <name>-new, so that two people can compare at once), RERUN_KEEP=1 keeps containers
# and worktree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
old_rev=${1:-8dc8e43}
pairs=${2:-5}
work=$(mktemp -d /tmp/byom-rerun.XXXX)
old_tree=$work/old
name=${RERUN_NAME:-byom-rerun}
declare -A ports=([old]=${RERUN_OLD_PORT:-8130} [new]=${RERUN_NEW_PORT:-8131}) trees=([old]=$old_tree [new]=$root)

log() { printf '[rerun %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
lab() {  # tree-name, lab.sh arguments...
  local v=$1; shift
  (cd "${trees[$v]}" && BYOM_LAB_CONTAINER="$name-$v" BYOM_LAB_EMULATOR_PORT="${ports[$v]}" \
     BYOM_LAB_DIR="$work/lab-$v" scripts/lab.sh "$@")
}
cleanup() {
  [ "${RERUN_KEEP:-0}" = 1 ] && { log "kept: containers $name-old/new, $work"; return; }
  for v in old new; do lab "$v" down >/dev/null 2>&1 || true; docker rm -f "$name-$v" >/dev/null 2>&1 || true; done
  git -C "$root" worktree remove --force "$old_tree" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

git -C "$root" worktree add --detach "$old_tree" "$old_rev" >/dev/null
ln -sfn "$root/.venv" "$old_tree/.venv"
for v in old new; do
  log "$v: cold deploy (lab container $name-$v, emulator port ${ports[$v]})"
  lab "$v" deploy -e @bench/lab-vars.yml >"$work/cold-$v.log" 2>&1 || { tail -n 30 "$work/cold-$v.log"; exit 1; }
done

rerun() {  # tree-name -> "seconds changed"
  local v=$1 t0 t1 out
  out=$work/rerun-$v.log
  t0=$(date +%s.%N)
  (cd "${trees[$v]}" && PATH="$root/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="${trees[$v]}/.collections" \
     ANSIBLE_CONFIG="${trees[$v]}/ansible.cfg" BYOM_LAB_CONTAINER="$name-$v" \
     BYOM_LAB_EMULATOR_URL="http://127.0.0.1:${ports[$v]}" \
     ansible-playbook site.yml -i inventories/lab -e @bench/lab-vars.yml) >"$out" 2>&1
  t1=$(date +%s.%N)
  printf '%s %s\n' "$(python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))' "$t0" "$t1")" \
    "$(grep -oE 'changed=[0-9]+' "$out" | tail -n1 | cut -d= -f2)"
}

rerun old >/dev/null; rerun new >/dev/null  # warm-up: page cache, first apt/dpkg reads
results=()
for i in $(seq 1 "$pairs"); do
  read -r so co < <(rerun old); read -r sn cn < <(rerun new)
  log "pair $i: old ${so} s changed=$co, new ${sn} s changed=$cn (load $(cut -d' ' -f1 /proc/loadavg))"
  results+=("$so $co $sn $cn")
done
# What each tree's last re-run did on the edge: tasks ok and skipped (the recap line).
for v in old new; do log "$v recap: $(grep -E '^byom-lab-vps +:' "$work/rerun-$v.log" | tr -s ' ' | cut -d' ' -f3-)"; done
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin if line.strip()]
old = [float(r[0]) for r in rows]; new = [float(r[2]) for r in rows]
changed = sorted({int(r[1]) for r in rows} | {int(r[3]) for r in rows})
print("old  median %.1f s (%.1f-%.1f)" % (statistics.median(old), min(old), max(old)))
print("new  median %.1f s (%.1f-%.1f)" % (statistics.median(new), min(new), max(new)))
print("new/old paired ratio median %.2f over %d pairs; changed= values seen: %s"
      % (statistics.median(n / o for n, o in zip(new, old)), len(rows), changed))
sys.exit(0 if changed == [0] else 1)'
