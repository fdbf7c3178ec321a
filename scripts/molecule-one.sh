#!/usr/bin/env bash
# Run one Molecule scenario with its output in a log file; print one status line.
# Used by scripts/test.sh to run scenarios two at a time (most of their time is spent
# waiting on apt and systemd, so two lanes fit on a 2-core machine).
set -uo pipefail
scenario=$1
logdir=${BYOM_MOLECULE_LOGDIR:-.cache/molecule-logs}
mkdir -p "$logdir"
t0=$SECONDS
if molecule test -s "$scenario" >"$logdir/$scenario.log" 2>&1; then
  echo PASSED >"$logdir/$scenario.status"
  printf -- '--- molecule scenario %s: PASSED (%ss)\n' "$scenario" $((SECONDS - t0))
else
  echo FAILED >"$logdir/$scenario.status"
  printf -- '--- molecule scenario %s: FAILED (%ss), log: %s/%s.log\n' "$scenario" $((SECONDS - t0)) "$logdir" "$scenario"
  exit 1
fi
