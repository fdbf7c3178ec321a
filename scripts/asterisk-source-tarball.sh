#!/usr/bin/env bash
# Produce an upstream-shaped Asterisk release tarball for the role's source-install tests, from
# Debian's source package (upstream tarballs and GitHub are not reachable from our machines).
#
# usage: scripts/asterisk-source-tarball.sh OUTDIR
#
# Writes, in OUTDIR:
#   asterisk-<ver>.tar.gz               top directory asterisk-<ver>/, like the upstream release
#   asterisk-<ver>.sha256               "<sha256>  asterisk-<ver>.tar.gz" (upstream's file name)
#   externals/pjproject-<pjver>.tar.bz2 the externals cache for --with-externals-cache
#   asterisk-source.json                {"version", "sha256", "tarball", "externals_dir", "pjproject"}
# The result is reused when it is present and its checksums still verify.
#
# Why not byte-identical to upstream: Debian repacks the release (+dfsg: codecs/ilbc, sounds and
# parts of pjproject's third_party/ removed) and ships pjproject as a separate component tarball.
# Like debian/rules does, we pack that component as pjproject-<pjver>.tar.bz2 and rewrite the
# .md5 file that Asterisk's third-party/pjproject/Makefile checks the tarball against. Everything
# else in the tree is Debian's unmodified upstream source.
#
# Environment: BYOM_ASTERISK_SUITE (default sid: Asterisk 22 LTS), BYOM_DEBIAN_MIRROR (default:
# the mirror this host's apt uses), BYOM_WORK_DIR (default: a temporary directory).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

out=${1:?usage: $0 OUTDIR}
suite=${BYOM_ASTERISK_SUITE:-sid}
log() { printf '[asterisk-source] %s\n' "$*" >&2; }

host_debian_mirror() { "$here/debian-mirror.sh"; }

# A previous result is kept only if every checksum it recorded still holds.
cached_ok() {
  local manifest=$out/asterisk-source.json ver pj
  [ -f "$manifest" ] || return 1
  ver=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$manifest") || return 1
  pj=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pjproject"])' "$manifest") || return 1
  (cd "$out" && sha256sum --quiet -c "asterisk-$ver.sha256") >/dev/null 2>&1 || return 1
  # The md5 Asterisk will check is the one inside the tarball.
  local want
  want=$(tar -xzOf "$out/asterisk-$ver.tar.gz" "asterisk-$ver/third-party/pjproject/$pj.tar.bz2.md5" 2>/dev/null | awk '{print $1}')
  [ -n "$want" ] && [ "$(md5sum <"$out/externals/$pj.tar.bz2" | awk '{print $1}')" = "$want" ] || return 1
  log "reusing $out/asterisk-$ver.tar.gz (checksums verified)"
  return 0
}

mkdir -p "$out"
out=$(cd "$out" && pwd)
cached_ok && exit 0

work=${BYOM_WORK_DIR:-$(mktemp -d /var/tmp/byom-asterisk-source.XXXX)}
mkdir -p "$work"
trap '[ -n "${BYOM_WORK_DIR:-}" ] || rm -rf "$work"' EXIT
mirror=${BYOM_DEBIAN_MIRROR:-$(host_debian_mirror)}

# A private apt state: the host's sources and lists are left untouched.
apt_dir=$work/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$mirror" "$suite" \
  >"$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
  # sid snapshots on mirrors may carry an expired Release file.
  -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root)
log "fetching Debian's asterisk source package from $suite"
apt-get "${apt_opts[@]}" -qq update
(cd "$work" && apt-get "${apt_opts[@]}" -qq source --download-only asterisk >/dev/null)

orig=$(find "$work" -maxdepth 1 -name 'asterisk_*.orig.tar.*' | sort | head -n1)
pj_component=$(find "$work" -maxdepth 1 -name 'asterisk_*.orig-Xpjproject.tar.*' | sort | head -n1)
[ -n "$orig" ] || { log "no orig tarball in the asterisk source package"; exit 1; }
src=$work/src
rm -rf "$src" && mkdir -p "$src"
tar -xf "$orig" -C "$src"
top=$(ls -A "$src")
[ "$(echo "$top" | wc -l)" = 1 ] || { log "unexpected layout in $orig: $top"; exit 1; }
ver=$(cat "$src/$top/.version")
[ "$top" = "asterisk-$ver" ] || mv "$src/$top" "$src/asterisk-$ver"
tree=$src/asterisk-$ver

mkdir -p "$out/externals"
pj_md5_file=$(find "$tree/third-party/pjproject" -maxdepth 1 -name 'pjproject-*.tar.bz2.md5' | sort | head -n1)
[ -n "$pj_md5_file" ] || { log "no third-party/pjproject/pjproject-*.tar.bz2.md5 in $orig"; exit 1; }
pj=$(basename "$pj_md5_file" .tar.bz2.md5)
if [ -n "$pj_component" ]; then
  pj_dir=$work/pj
  rm -rf "$pj_dir" && mkdir -p "$pj_dir"
  tar -xf "$pj_component" -C "$pj_dir"
  pj_top=$(ls "$pj_dir")
  pj_ver=$(awk -F':= *' '/^export PJ_VERSION_MAJOR/{ma=$2} /^export PJ_VERSION_MINOR/{mi=$2} /^export PJ_VERSION_REV/{r=$2}
    END{v=ma"."mi; if (r!="") v=v"."r; gsub(/ /,"",v); print v}' "$pj_dir/$pj_top/version.mak")
  [ "pjproject-$pj_ver" = "$pj" ] || { log "Debian's pjproject is $pj_ver but Asterisk $ver expects $pj"; exit 1; }
  # The +dfsg repack deletes files pjproject's Makefiles still list (e.g. the non-free bdimad
  # audio driver); Debian's patches for the Xpjproject component make the tree build again.
  deb_tar=$(find "$work" -maxdepth 1 -name 'asterisk_*.debian.tar.*' | sort | head -n1)
  if [ -n "$deb_tar" ]; then
    mkdir -p "$work/deb" && tar -xf "$deb_tar" -C "$work/deb"
    while read -r p; do
      case $p in ''|'#'*) continue ;; esac
      f=$work/deb/debian/patches/$p
      grep -q '^+++ b/Xpjproject/' "$f" 2>/dev/null || continue
      if grep '^+++ ' "$f" | grep -qv '^+++ b/Xpjproject/'; then
        log "skipping Debian patch $p: it touches more than Xpjproject/"; continue
      fi
      patch -s -p2 -d "$pj_dir/$pj_top" <"$f" || { log "Debian patch $p does not apply"; exit 1; }
      log "applied Debian patch $p to $pj"
    done <"$work/deb/debian/patches/series"
  fi
  mv "$pj_dir/$pj_top" "$pj_dir/$pj"
  tar -C "$pj_dir" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - "$pj" \
    | bzip2 -9 >"$out/externals/$pj.tar.bz2.tmp"
  mv "$out/externals/$pj.tar.bz2.tmp" "$out/externals/$pj.tar.bz2"
  (cd "$out/externals" && md5sum "$pj.tar.bz2") >"$pj_md5_file"
else
  log "no pjproject component in the source package; the build will need $pj.tar.bz2 from elsewhere"
  exit 1
fi

# Reproducible packing: the same source package always yields the same sha256.
mtime=$(stat -c %Y "$tree/.version")
tar -C "$src" --sort=name --mtime="@$mtime" --owner=0 --group=0 --numeric-owner -cf - "asterisk-$ver" \
  | gzip -n -9 >"$out/asterisk-$ver.tar.gz.tmp"
mv "$out/asterisk-$ver.tar.gz.tmp" "$out/asterisk-$ver.tar.gz"
(cd "$out" && sha256sum "asterisk-$ver.tar.gz") >"$out/asterisk-$ver.sha256"
sha=$(awk '{print $1}' "$out/asterisk-$ver.sha256")
python3 - "$out" "$ver" "$sha" "$pj" <<'EOF'
import json, sys
out, ver, sha, pj = sys.argv[1:]
json.dump({"version": ver, "sha256": sha, "tarball": f"{out}/asterisk-{ver}.tar.gz",
           "externals_dir": f"{out}/externals", "pjproject": pj},
          open(f"{out}/asterisk-source.json", "w"), indent=2)
EOF
cached_ok 2>/dev/null || { log "self-check failed for $out"; exit 1; }
log "wrote $out/asterisk-$ver.tar.gz (sha256 $sha) and $out/externals/$pj.tar.bz2"
