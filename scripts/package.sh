#!/usr/bin/env bash
# The collection as users install it (`make package`, a stage of `make test`):
#  1. build: a copy of the tree gets its changelog released from the fragments
#     (antsibull-changelog), then `ansible-galaxy collection build` -> .cache/package/dist/;
#  2. install the tarball into an EMPTY collections path with ansible-core plus ONLY the
#     collections its galaxy.yml declares (and theirs), taken offline from the pinned `ansible`
#     package, in a virtualenv holding only ansible-core and requirements.txt (pinned);
#  3. from there: ansible-doc for every module, plugin and role, every collection the content
#     names is installed, `ansible-playbook byom.telephony.<playbook> --syntax-check`;
#  4. the lab (scripts/lab.sh, its own container and emulator) deployed with
#     `ansible-playbook byom.telephony.site` from the installed collection, then re-run with
#     everything at its lower bound (ansible-core, requirements.txt, and the collections of the
#     `ansible` release named below): changed=0;
#  5. galaxy-importer (what Galaxy runs on upload) with ansible-doc, ansible-lint and flake8 on:
#     0 errors and 0 warnings; ansible-builder introspect finds the EE requirements.
#
# usage: scripts/package.sh [build|install|lab|importer|all]   (default all)
# Knobs: BYOM_PACKAGE_LAB_CONTAINER (byom-package-vps), BYOM_PACKAGE_LAB_PORT (8095),
#        BYOM_PACKAGE_SKIP_LAB=1 (no lab), BYOM_VENV (the development virtualenv, default .venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dev_venv=${BYOM_VENV:-$root/.venv}
work=$root/.cache/package
# The `ansible` release whose bundled collections are galaxy.yml's lower bounds
# (ansible.utils 4.1.0, community.general 9.0.1); the stage fails when they drift apart.
lowest_ansible=10.0.1
# galaxy-importer is pinned like the rest of the toolchain; it brings its own ansible-lint and
# ansible-builder, hence its own virtualenv.
importer_pin=galaxy-importer==0.4.44
container=${BYOM_PACKAGE_LAB_CONTAINER:-byom-package-vps}
lab_port=${BYOM_PACKAGE_LAB_PORT:-8095}

log() { printf '[package] %s\n' "$*" >&2; }
die() { printf '[package] ERROR: %s\n' "$*" >&2; exit 1; }
step() { local t0=$SECONDS; log "--- $1"; "${@:2}"; log "--- $1: done in $((SECONDS - t0)) s"; }

dev_py=$dev_venv/bin/python
pinned_collections=$("$dev_py" -c 'import ansible_collections as a; print(list(a.__path__)[0])')
pin() { grep -E "^$1==" "$root/requirements-dev.txt" | head -n1 | cut -d= -f3; }
version=$("$dev_py" -c 'import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))["version"])' galaxy.yml)
tarball=$work/dist/byom-telephony-$version.tar.gz
# Two runtimes, each ansible-core + requirements.txt only: the pinned versions of
# requirements-dev.txt, and the lower bounds (meta/runtime.yml's requires_ansible, requirements.txt).
runtime_venv=$work/venv-runtime
lowest_venv=$work/venv-lowest
importer_venv=$work/venv-importer

# A virtualenv from a requirements list, rebuilt only when the list changes.
make_venv() {
  local venv=$1; shift
  local want; want=$(printf '%s\n' "$@" | sha256sum | cut -d' ' -f1)
  [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$want" ] && return 0
  rm -rf "$venv"
  python3 -m venv "$venv"
  { "$venv/bin/pip" install -q --upgrade pip && "$venv/bin/pip" install -q "$@"; } >"$venv.log" 2>&1 \
    || { grep -v 'is ignored' "$venv.log" >&2; die "pip install $* failed"; }
  "$venv/bin/pip" check >&2 || die "pip check failed in $venv"
  echo "$want" >"$venv/.stamp"
}

build() {
  rm -rf "$work/src" "$work/dist"
  mkdir -p "$work/src" "$work/dist"
  # What a clean clone holds (tracked and new files, not what .gitignore ignores).
  git ls-files -co --exclude-standard -z | grep -zv '^\.collections/' | xargs -0 -I{} cp --parents -P {} "$work/src/"
  (
    cd "$work/src"
    "$dev_venv/bin/antsibull-changelog" lint
    # A release's changelog: changelogs/changelog.yaml and CHANGELOG.md from the fragments.
    # antsibull-changelog asks ansible-doc (on PATH) which plugins and modules are new.
    PATH="$dev_venv/bin:$PATH" "$dev_venv/bin/antsibull-changelog" release --version "$version"
    "$dev_venv/bin/ansible-galaxy" collection build --output-path "$work/dist" >/dev/null
  )
  [ -f "$tarball" ] || die "no tarball $tarball"
  # The tarball holds the content and the released changelog, and none of the development tree.
  "$dev_py" - "$tarball" "$version" <<'EOF'
import sys, tarfile, yaml
tar, version = tarfile.open(sys.argv[1]), sys.argv[2]
names = tar.getnames()
changes = yaml.safe_load(tar.extractfile('changelogs/changelog.yaml'))
assert version in (changes.get('releases') or {}), 'changelogs/changelog.yaml in the tarball has no release %s' % version
for required in ('MANIFEST.json', 'FILES.json', 'meta/runtime.yml', 'meta/execution-environment.yml',
                 'requirements.txt', 'bindep.txt', 'README.md', 'CHANGELOG.md', 'playbooks/site.yml'):
    assert required in names, 'the tarball lacks ' + required
bad = sorted({n.split('/')[0] for n in names} & {'.venv', '.collections', '.cache', '.lab', 'tests', 'molecule',
                                              'scripts', 'bench', 'inventories', '.github', '.ci', 'dist'})
bad += [n for n in names if '__pycache__' in n or n.endswith('.pyc')]
assert not bad, 'the tarball holds development files: %s' % bad
print('[package] %s: %d entries, changelog release %s' % (sys.argv[1], len(names), version), file=sys.stderr)
EOF
}

# Collections for one install: the tarball's dependency closure from an `ansible` package.
install_collections() {
  local dest=$1 source=$2 lowest=${3:-}
  local artifacts
  rm -rf "$dest" "$dest.artifacts"
  mapfile -t artifacts < <("$dev_py" scripts/collection_deps.py artifacts "$tarball" --source "$source" \
                            --out "$dest.artifacts" ${lowest:+--lowest}) || die "dependency resolution failed"
  [ "${#artifacts[@]}" -gt 0 ] || die "no dependency artifacts"
  log "installing $(basename "$tarball") + ${artifacts[*]##*/} into $dest"
  installed_env "$dest" ansible-galaxy collection install --offline -p "$dest" "$tarball" "${artifacts[@]}" >"$dest.log" 2>&1 \
    || { cat "$dest.log" >&2; die "ansible-galaxy collection install failed"; }
  installed_env "$dest" ansible-galaxy collection list 2>/dev/null | grep -E '^[a-z0-9_]+\.[a-z0-9_]+ ' >&2
}

# What the installed collection's users see, from outside the clone and with no other
# collections than the installed ones.
# The plugin names a file defines: the names its FilterModule/TestModule returns, else the file's.
plugin_names() {
  case $1 in
    filter|test)
      installed_env "$work/inst" env PYTHONPATH="$work/inst" python3 - "$1" "$2" <<'EOF'
import importlib.util
import sys

kind, path = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location('byom_plugin', path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
cls = getattr(module, 'FilterModule' if kind == 'filter' else 'TestModule')
print('\n'.join(sorted(getattr(cls(), kind + 's')())))
EOF
      ;;
    *) basename "$2" .py ;;
  esac
}

installed_env() {
  (cd "$work" && env -u ANSIBLE_CONFIG -u ANSIBLE_COLLECTIONS_PATHS PATH="${venv:-$runtime_venv}/bin:$PATH" \
    ANSIBLE_CONFIG="$work/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$1" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 "${@:2}")
}

runtime_venvs() {
  local pin_core low_core req
  local -a pinned_py lowest_py names
  pin_core=$(pin ansible-core)
  [ -n "$pin_core" ] || die "no ansible-core pin in requirements-dev.txt"
  low_core=$("$dev_py" -c 'import re,sys,yaml; print(re.search(r">=\s*([0-9.]+)", yaml.safe_load(open(sys.argv[1]))["requires_ansible"]).group(1))' meta/runtime.yml)
  mapfile -t names < <(grep -oE '^[A-Za-z0-9_.-]+' requirements.txt)
  for req in "${names[@]}"; do
    pinned_py+=("$req==$(pin "$req")")
    [ -n "$(pin "$req")" ] || die "requirements-dev.txt pins no version of $req (requirements.txt)"
    lowest_py+=("$(grep -E "^$req>=" requirements.txt | sed -E 's/^([A-Za-z0-9_.-]+)>=([^,; ]+).*/\1==\2/')")
    [ "${lowest_py[-1]}" != "" ] || die "requirements.txt has no lower bound (>=) for $req"
  done
  make_venv "$runtime_venv" "ansible-core==$pin_core" "${pinned_py[@]}"
  log "pinned runtime: ansible-core==$pin_core ${pinned_py[*]}"
  make_venv "$lowest_venv" "ansible-core==$low_core" "${lowest_py[@]}"
  log "lowest runtime: ansible-core==$low_core ${lowest_py[*]}"
}

install() {
  runtime_venvs
  cat >"$work/ansible.cfg" <<'EOF'
[defaults]
interpreter_python = auto_silent
gathering = smart
callback_result_format = yaml
retry_files_enabled = false
[connection]
pipelining = true
EOF
  install_collections "$work/inst" "$pinned_collections"
  local coll=$work/inst/ansible_collections/byom/telephony
  local n=0 t f name
  cd "$work"
  "$dev_py" "$root/scripts/collection_deps.py" refs "$coll" --known "$pinned_collections" --installed "$work/inst"
  for f in "$coll"/plugins/modules/*.py; do
    name=byom.telephony.$(basename "$f" .py)
    if ! installed_env "$work/inst" ansible-doc -t module "$name" >"$work/doc.txt" 2>&1 \
       || ! grep -q "^> MODULE $name" "$work/doc.txt"; then
      cat "$work/doc.txt" >&2; die "ansible-doc -t module $name"
    fi
    n=$((n + 1))
  done
  # Any other plugin type a later change adds (filter, lookup, callback, ...): every one documented.
  for t in "$coll"/plugins/*/; do
    t=$(basename "$t")
    case $t in modules|module_utils|doc_fragments|action|plugin_utils) continue ;; esac
    for f in "$coll/plugins/$t"/*.py; do
      [ "$(basename "$f")" = __init__.py ] && continue
      # A filter or test file may define several plugins: each is documented under its own name.
      for short in $(plugin_names "${t%s}" "$f"); do
        name=byom.telephony.$short
        installed_env "$work/inst" ansible-doc -t "${t%s}" "$name" >"$work/doc.txt" 2>&1 \
          || { cat "$work/doc.txt" >&2; die "ansible-doc -t ${t%s} $name"; }
        n=$((n + 1))
      done
    done
  done
  for f in "$coll"/roles/*/; do
    name=byom.telephony.$(basename "$f")
    if ! installed_env "$work/inst" ansible-doc -t role "$name" >"$work/doc.txt" 2>&1 \
       || ! grep -qE "^ENTRY POINT: \*?main\*? " "$work/doc.txt"; then
      cat "$work/doc.txt" >&2; die "ansible-doc -t role $name"
    fi
    n=$((n + 1))
  done
  log "ansible-doc: $n modules, plugins and roles documented from the installed collection"
  for f in "$coll"/playbooks/*.yml; do
    name=byom.telephony.$(basename "$f" .yml)
    installed_env "$work/inst" ansible-playbook "$name" -i "$root/inventories/lab/hosts.yml" --syntax-check >"$work/syntax.txt" 2>&1 \
      || { cat "$work/syntax.txt" >&2; die "ansible-playbook $name --syntax-check"; }
    log "ansible-playbook $name --syntax-check: ok"
  done
  cd "$root"
  # The same tarball with every dependency at its lower bound.
  local lowest_whl
  lowest_whl=$(lowest_wheel)
  venv=$lowest_venv install_collections "$work/inst-lowest" "$lowest_whl" lowest
  venv=$lowest_venv installed_env "$work/inst-lowest" ansible-playbook byom.telephony.site -i "$root/inventories/lab/hosts.yml" \
    --syntax-check >"$work/syntax.txt" 2>&1 || { cat "$work/syntax.txt" >&2; die "lowest: ansible-playbook byom.telephony.site --syntax-check"; }
  log "lowest: ansible-playbook byom.telephony.site --syntax-check: ok"
}

lab_env() {
  env -u VAPI_API_KEY -u VAPI_API_URL BYOM_LAB_CONTAINER="$container" BYOM_LAB_EMULATOR_PORT="$lab_port" BYOM_LAB_DIR="$work/lab" \
    BYOM_LAB_PLAYBOOK=byom.telephony.site \
    BYOM_LAB_ANSIBLE_CONFIG="$work/ansible.cfg" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    PY_COLORS=0 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 "$@"
}

# changed= of the one host in the last deploy's recap.
recap_changed() { grep -E '^\S+\s+: ok=' "$work/lab/site.log" | tail -n1 | grep -oE 'changed=[0-9]+' | cut -d= -f2; }

lab() {
  [ -d "$work/inst/ansible_collections/byom/telephony" ] || die "run the install step first"
  scripts/docker-engine.sh >/dev/null
  scripts/lab-images.sh debian-sid >/dev/null
  # The lab reaches its container through community.docker's connection: a development
  # collection (requirements-dev.yml), in its own path next to the installed ones.
  local labc=$work/lab-collections
  rm -rf "$labc" "$labc.artifacts"
  mapfile -t dev < <("$dev_py" scripts/collection_deps.py artifacts requirements-dev.yml --source "$pinned_collections" --out "$labc.artifacts")
  installed_env "$labc" ansible-galaxy collection install --offline -p "$labc" "${dev[@]}" >/dev/null
  [ -d "$work/inst-lowest/ansible_collections/byom/telephony" ] || die "run the install step first"
  lab_env scripts/lab.sh down >/dev/null 2>&1 || true
  # The lab goes away however this ends.
  trap 'lab_env scripts/lab.sh down >/dev/null 2>&1 || true' EXIT
  local rc=0
  log "lab: first deployment of the installed collection (pinned dependencies)"
  lab_env BYOM_LAB_ANSIBLE_VENV="$runtime_venv" BYOM_LAB_COLLECTIONS_PATH="$work/inst:$labc" scripts/lab.sh deploy >"$work/lab-1.log" 2>&1 \
    || { tail -n 60 "$work/lab-1.log" >&2; die "deploying byom.telephony.site from the installed collection failed"; }
  log "lab: first deployment: $(grep -E '^\[lab\] recap' "$work/lab-1.log" | cut -d: -f2- | tr -s ' ')"
  # Idempotence with the pinned dependencies is tested from the clone (tests/integration); here
  # the re-run uses the lower bounds, so it also shows they behave like the pinned versions.
  log "lab: re-run with ansible-core, collections (ansible $lowest_ansible) and Python packages at their lower bounds must report changed=0"
  lab_env BYOM_LAB_ANSIBLE_VENV="$lowest_venv" BYOM_LAB_COLLECTIONS_PATH="$work/inst-lowest:$labc" scripts/lab.sh deploy >"$work/lab-2.log" 2>&1 \
    || { tail -n 60 "$work/lab-2.log" >&2; die "re-run with the lowest dependencies failed"; }
  log "lab: re-run: $(grep -E '^\[lab\] recap' "$work/lab-2.log" | cut -d: -f2- | tr -s ' ')"
  [ "$(recap_changed)" = 0 ] || { grep -B2 -A8 'changed:' "$work/lab-2.log" | head -n 60 >&2; rc=1; log "lowest re-run: changed=$(recap_changed)"; }
  lab_env scripts/lab.sh down >/dev/null 2>&1 || true
  trap - EXIT
  return $rc
}

# The `ansible` wheel of the lowest release, from the package index through pip's cache.
lowest_wheel() {
  local dl=$work/download whl
  whl=$(ls "$dl"/ansible-"$lowest_ansible"-py3-none-any.whl 2>/dev/null || true)
  if [ -z "$whl" ]; then
    mkdir -p "$dl"
    "$dev_venv/bin/pip" download -q --no-deps "ansible==$lowest_ansible" -d "$dl" >"$dl.log" 2>&1 \
      || grep -v 'is ignored' "$dl.log" >&2
    whl=$(ls "$dl"/ansible-"$lowest_ansible"-py3-none-any.whl 2>/dev/null || true)
  fi
  [ -n "$whl" ] || die "could not download ansible==$lowest_ansible"
  echo "$whl"
}

importer() {
  # Its ansible-core and ansible-lint are the toolchain's pins, so the result does not drift.
  make_venv "$importer_venv" "$importer_pin" "ansible-core==$(pin ansible-core)" "ansible-lint==$(pin ansible-lint)"
  # ansible-lint (run by the importer) resolves the declared dependencies, and only those,
  # through PYTHONPATH: a collections directory without byom.telephony.
  local deps=$work/importer-deps/ansible_collections
  rm -rf "$work/importer-deps" "$work/importer"
  mkdir -p "$deps" "$work/importer/tmp"
  cp -a "$work/inst/ansible_collections/." "$deps/"
  rm -rf "$deps/byom"
  cat >"$work/importer/galaxy-importer.cfg" <<EOF
[galaxy-importer]
log_level_main = INFO
run_ansible_doc = True
run_ansible_lint = True
offline_ansible_lint = True
run_flake8 = True
check_changelog = True
check_required_tags = True
require_v1_or_greater = True
# ansible-test sanity runs in its own stage (scripts/sanity.sh).
run_ansible_test = False
tmp_root_dir = $work/importer/tmp
ansible_local_tmp = $work/importer/tmp/ansible
EOF
  local rc=0
  (cd "$work/importer" && env -u ANSIBLE_CONFIG -u ANSIBLE_COLLECTIONS_PATH GALAXY_IMPORTER_CONFIG="$work/importer/galaxy-importer.cfg" \
     PATH="$importer_venv/bin:$PATH" PYTHONPATH="$work/importer-deps" HOME="$work/importer/tmp" \
     "$importer_venv/bin/python" -m galaxy_importer.main "$tarball") >"$work/importer.log" 2>&1 || rc=$?
  cat "$work/importer.log" >&2
  local errors warnings
  errors=$(grep -cE '^(ERROR|CRITICAL)|ERROR:' "$work/importer.log" || true)
  warnings=$(grep -cE '^WARNING|WARNING:' "$work/importer.log" || true)
  log "galaxy-importer: exit $rc, $errors errors, $warnings warnings ($(grep -c 'Loading' "$work/importer.log" || true) content items loaded)"
  if [ "$rc" -ne 0 ] || [ "$errors" -ne 0 ] || [ "$warnings" -ne 0 ]; then die "galaxy-importer is not clean"; fi
  # An execution environment built with this collection gets its Python and system needs.
  "$importer_venv/bin/ansible-builder" introspect --sanitize "$work/inst" >"$work/introspect.txt" 2>&1 \
    || { cat "$work/introspect.txt" >&2; die "ansible-builder introspect failed"; }
  local req
  local -a names
  mapfile -t names < <(grep -hoE '^[A-Za-z0-9_.-]+' requirements.txt bindep.txt)
  for req in "${names[@]}"; do
    grep -qiE "^- '?${req}[^#]*# from collection byom\.telephony" "$work/introspect.txt" \
      || { cat "$work/introspect.txt" >&2; die "ansible-builder introspect does not list $req for byom.telephony"; }
  done
  log "ansible-builder introspect: requirements.txt and bindep.txt entries found"
  # The example EE definition in docs/ is a valid ansible-builder 3 definition.
  rm -rf "$work/ee-context"
  "$importer_venv/bin/ansible-builder" create -f docs/execution-environment.yml -c "$work/ee-context" >"$work/ee-create.txt" 2>&1 \
    || { cat "$work/ee-create.txt" >&2; die "ansible-builder create -f docs/execution-environment.yml failed"; }
  log "ansible-builder create: docs/execution-environment.yml accepted"
}

what=${1:-all}
mkdir -p "$work"
case $what in
  build) step build build ;;
  install) step install install ;;
  lab) step lab lab ;;
  importer) step importer importer ;;
  all)
    step build build
    step install install
    if [ "${BYOM_PACKAGE_SKIP_LAB:-}" = 1 ]; then log "lab skipped (BYOM_PACKAGE_SKIP_LAB=1)"; else step lab lab; fi
    step importer importer
    ;;
  *) echo "usage: $0 [build|install|lab|importer|all]" >&2; exit 2 ;;
esac
