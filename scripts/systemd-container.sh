# shellcheck shell=bash
# Sourced by scripts/lab.sh and scripts/bench.sh: a systemd container the way every lab here
# makes one (molecule/shared/create.yml and tests/byom_testlib/containers.py do the same).

# usage: systemd_container_run NAME IMAGE [docker run options...]
# systemd as PID 1 without --privileged (refused on these machines); sid's systemd needs a private
# cgroup v2 namespace, Debian 11/12's the host's v1 hierarchy.
systemd_container_run() {
  local name=$1 img=$2 cgroup_args
  shift 2
  case $img in
    *sid*) cgroup_args=(--cgroupns private -v /sys/fs/cgroup/unified:/sys/fs/cgroup:rw) ;;
    *) cgroup_args=(--cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw) ;;
  esac
  docker run -d --name "$name" --hostname "$name" \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add NET_RAW \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    "${cgroup_args[@]}" --tmpfs /run --tmpfs /run/lock \
    --env container=docker --pull never "$@" \
    "$img" /lib/systemd/systemd >/dev/null
}

# usage: systemd_container_wait NAME: returns once systemd is up, fails after 60 s.
systemd_container_wait() {
  local s=""
  for _ in $(seq 1 60); do
    s=$(docker exec "$1" systemctl is-system-running 2>/dev/null || true)
    # "degraded" is expected on sid: journald cannot start in these containers.
    case $s in running|degraded) return 0 ;; esac
    sleep 1
  done
  echo "systemd in $1 did not come up (state: ${s:-unknown})" >&2
  return 1
}
