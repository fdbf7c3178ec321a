#!/usr/bin/env bash
# Build the systemd-capable "VPS" images the lab and Molecule use, from the distribution's
# own archive (debootstrap + docker import): no image registry is needed.
# An image is rebuilt only when it is missing or when its recipe (its line below, the package
# list and build_one) changed; the recipe hash is stored as an image label.
#
# usage: scripts/lab-images.sh [NAME ...]     (default: every image in IMAGES)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# NAME          SUITE     ARCHIVE  (ARCHIVE: debian|ubuntu; mirror comes from BYOM_*_MIRROR)
IMAGES="
debian11        bullseye  debian
debian12        bookworm  debian
debian-sid      sid       debian
"
# Ubuntu 22.04 ships Asterisk 18 as a package; enable it where an Ubuntu archive is reachable:
# ubuntu2204    jammy     ubuntu

IMAGE_REPO=${BYOM_IMAGE_REPO:-localhost/byom-vps}
INCLUDE_PKGS="python3,systemd,systemd-sysv,iproute2,ca-certificates,procps,iptables,gnupg"

log() { printf '[lab-images] %s\n' "$*" >&2; }

# The archive mirror is whatever this machine's apt already uses, unless overridden.
host_debian_mirror() { "$here/debian-mirror.sh"; }

recipe_hash() {
  local name=$1 suite=$2 archive=$3
  # The recipe is the image's line, the package list and the build function itself, so
  # editing comments or other parts of this script does not force a rebuild.
  { printf '%s %s %s %s\n' "$name" "$suite" "$archive" "$INCLUDE_PKGS"; declare -f build_one; } | sha256sum | cut -c1-16
}

build_one() {
  local name=$1 suite=$2 archive=$3 mirror hash image current rootfs
  hash=$(recipe_hash "$name" "$suite" "$archive")
  image="$IMAGE_REPO:$name"
  current=$(docker image inspect -f '{{ index .Config.Labels "byom.recipe" }}' "$image" 2>/dev/null || true)
  if [ "$current" = "$hash" ]; then
    log "$image is up to date (recipe $hash)"
    return 0
  fi
  case $archive in
    debian) mirror=${BYOM_DEBIAN_MIRROR:-$(host_debian_mirror)} ;;
    ubuntu) mirror=${BYOM_UBUNTU_MIRROR:?set BYOM_UBUNTU_MIRROR to an Ubuntu archive URL} ;;
  esac
  command -v debootstrap >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq debootstrap >/dev/null; }
  rootfs=$(mktemp -d "/var/tmp/byom-rootfs-$name.XXXX")
  log "building $image from $suite (recipe $hash)"
  debootstrap --variant=minbase --include="$INCLUDE_PKGS" "$suite" "$rootfs" "$mirror" \
    >"/var/tmp/byom-debootstrap-$name.log" 2>&1 \
    || { log "debootstrap failed, see /var/tmp/byom-debootstrap-$name.log"; tail -n 20 "/var/tmp/byom-debootstrap-$name.log" >&2; rm -rf "$rootfs"; return 1; }

  # apt sources: security updates where the suite has them (Asterisk 16 on bullseye lives there).
  if [ "$archive" = debian ] && [ "$suite" != sid ]; then
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s-security %s-security main\n' \
      "$mirror" "$suite" "$mirror" "$suite" "$mirror" "$suite" >"$rootfs/etc/apt/sources.list"
  fi
  # sid snapshots on mirrors may carry an expired Release file.
  [ "$suite" = sid ] && echo 'Acquire::Check-Valid-Until "false";' >"$rootfs/etc/apt/apt.conf.d/99byom-no-valid-until"
  # A container has no consoles or udev to wait for; these units only slow boot down.
  for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
              systemd-remount-fs.service sys-kernel-debug.mount systemd-firstboot.service; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
  done
  echo 'APT::Install-Recommends "false";' >"$rootfs/etc/apt/apt.conf.d/99byom-no-recommends"
  rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"* 2>/dev/null || true
  : >"$rootfs/etc/machine-id"

  tar -C "$rootfs" -c . | docker import \
    --change "LABEL byom.recipe=$hash" \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change 'ENV container=docker' - "$image" >/dev/null \
    || { log "docker import failed for $image"; rm -rf "$rootfs"; return 1; }
  rm -rf "$rootfs"
  log "built $image"
}

"$here/docker-engine.sh"
wanted=("$@")
pids=()
while read -r name suite archive; do
  [ -n "$name" ] || continue
  if [ ${#wanted[@]} -gt 0 ]; then
    case " ${wanted[*]} " in *" $name "*) ;; *) continue ;; esac
  fi
  build_one "$name" "$suite" "$archive" &
  pids+=($!)
done <<<"$IMAGES"
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
