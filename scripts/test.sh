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
run_stage() {
  local name=$1; shift
  local t0=$SECONDS
  printf '\n===== stage %s =====\n' "$name"
  if "$@"; then
    passed=$((passed + 1)); printf '===== stage %s: PASSED (%ss) =====\n' "$name" $((SECONDS - t0))
  else
    failed=$((failed + 1)); failed_names+=("$name"); printf '===== stage %s: FAILED (%ss) =====\n' "$name" $((SECONDS - t0))
  fi
}

stage_lint() {
  yamllint -s . && ansible-lint --profile production
}
stage_sanity() { scripts/sanity.sh; }
stage_unit() { pytest -q -p no:cacheprovider tests/unit && scripts/vapi-urllib3-compat.sh; }
stage_integration() { scripts/docker-engine.sh && pytest -q -p no:cacheprovider tests/integration; }
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

for s in "${stages[@]}"; do
  case $s in
    lint|sanity|unit|integration|molecule|package) run_stage "$s" "stage_$s" ;;
    *) echo "unknown stage: $s" >&2; failed=$((failed + 1)); failed_names+=("$s") ;;
  esac
done

printf '\n'
[ $failed -eq 0 ] || printf 'failed stages: %s\n' "${failed_names[*]}"
printf 'stages: %d passed, %d failed\n' "$passed" "$failed"
[ $failed -eq 0 ]
