#!/usr/bin/env bash
# The lab: a local systemd container as the VPS, the local Vapi API emulator as Vapi, SIPp
# as the carrier (127.0.0.3) and as Vapi's SIP side (127.0.0.2:5070) inside the container.
#
# usage: scripts/lab.sh up       set up everything on a fresh machine, deploy site.yml, demo call
#        scripts/lab.sh deploy   only re-run site.yml against the running lab (extra args go to ansible-playbook)
#        scripts/lab.sh call     only place the demo call
#        scripts/lab.sh status   what runs where
#        scripts/lab.sh webhook [TYPE]  with BYOM_LAB_WEBHOOKS=1: the emulator posts a Vapi-signed
#                                server message (default end-of-call-report) to the receiver on the
#                                edge; shows it reaching the stand-in downstream
#        scripts/lab.sh down     remove the container and stop the emulator
#        scripts/lab.sh stand-in scenario|options   print the Vapi stand-in's SIPp scenario or
#                                options (tests run the stand-in with them)
#
# Real Vapi instead of the emulator: export VAPI_API_KEY and VAPI_API_URL (e.g. the API of your
# region). Then no emulator is started and the demo call is skipped (it would leave loopback).
# Knobs for tests running a second lab next to yours: BYOM_LAB_CONTAINER, BYOM_LAB_EMULATOR_PORT,
# BYOM_LAB_DIR (pid/state/log files).
# BYOM_LAB_IMAGE picks the VPS: localhost/byom-vps:debian-sid (default: Asterisk 22 from Debian),
# :debian11 (Asterisk 16 from Debian) or :debian12 (no Asterisk package: Asterisk 22 built from
# source, from a tarball made out of Debian's source package, scripts/asterisk-source-tarball.sh,
# cached in BYOM_ASTERISK_SOURCE_CACHE; the first deploy compiles for about 10 minutes).
# BYOM_LAB_WEBHOOKS=1 adds the webhook receiver on the edge (inventories/lab-webhooks, docs/webhooks.md)
# and its stand-in downstream; off by default, so the default lab stays as fast as it was.
# BYOM_LAB_MONITORING=1 adds metrics (inventories/lab-monitoring, docs/monitoring.md): Prometheus on
# the edge container (group monitoring) and a second container, BYOM_LAB_PROXY_CONTAINER (Debian 12),
# as the proxy tier (Kamailio in front of the edge, node-exporter scraped by that Prometheus).
# Knobs for deploying an installed collection instead of this clone (scripts/package.sh):
# BYOM_LAB_PLAYBOOK (e.g. byom.telephony.site), BYOM_LAB_ANSIBLE_VENV (the virtualenv whose
# ansible-playbook runs), BYOM_LAB_COLLECTIONS_PATH, BYOM_LAB_ANSIBLE_CONFIG.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/systemd-container.sh
. "$root/scripts/systemd-container.sh"
cd "$root"
export PATH="${BYOM_LAB_ANSIBLE_VENV:-$root/.venv}/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="${BYOM_LAB_COLLECTIONS_PATH:-$root/.collections}"
export ANSIBLE_CONFIG="${BYOM_LAB_ANSIBLE_CONFIG:-$root/ansible.cfg}"
playbook=${BYOM_LAB_PLAYBOOK:-site.yml}

container=${BYOM_LAB_CONTAINER:-byom-lab-vps}
image=${BYOM_LAB_IMAGE:-localhost/byom-vps:debian-sid}
image_name=${image##*:}
source_cache=${BYOM_ASTERISK_SOURCE_CACHE:-/var/tmp/byom-asterisk-source}
lab_dir=${BYOM_LAB_DIR:-$root/.lab}
emu_port=${BYOM_LAB_EMULATOR_PORT:-8089}
emu_url="http://127.0.0.1:$emu_port"
# Must match vapi_api_key in inventories/lab/group_vars (the emulator's only valid key).
emu_key=byom-lab-key
inventory=$root/inventories/lab
inventory_args=(-i "$inventory")
webhooks_on() { [ "${BYOM_LAB_WEBHOOKS:-0}" = 1 ]; }
if webhooks_on; then inventory_args+=(-i "$root/inventories/lab-webhooks"); fi
monitoring_on() { [ "${BYOM_LAB_MONITORING:-0}" = 1 ]; }
proxy_container=${BYOM_LAB_PROXY_CONTAINER:-$container-proxy}
proxy_image=${BYOM_LAB_PROXY_IMAGE:-localhost/byom-vps:debian12}
if monitoring_on; then inventory_args+=(-i "$root/inventories/lab-monitoring"); fi
# Where the stand-in downstream listens inside the container (inventories/lab-webhooks).
downstream_port=18080
downstream_log=/root/byom-downstream.jsonl
export BYOM_LAB_CONTAINER=$container BYOM_LAB_EMULATOR_URL=$emu_url BYOM_LAB_PROXY_CONTAINER=$proxy_container

# curl is not on every fresh machine; python3 is.
http_ok() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" >/dev/null 2>&1; }

log() { printf '[lab] %s\n' "$*" >&2; }
die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

real_vapi() { [ -n "${VAPI_API_KEY:-}" ] && [ -n "${VAPI_API_URL:-}" ]; }

setup_machine() {
  scripts/host-packages.sh
  scripts/venv.sh
  scripts/docker-engine.sh
  scripts/lab-images.sh "$image_name"
  if monitoring_on && [ "$image_name" != debian12 ]; then scripts/lab-images.sh debian12; fi
}

emulator_up() {
  if real_vapi; then
    log "VAPI_API_KEY and VAPI_API_URL are set: using $VAPI_API_URL, no emulator"
    return 0
  fi
  mkdir -p "$lab_dir"
  local pidf="$lab_dir/emulator.pid"
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null \
     && http_ok "$emu_url/_emulator/health"; then
    log "Vapi emulator already running on $emu_url (pid $(cat "$pidf"))"
    return 0
  fi
  [ -f tests/vapi_emulator/server.py ] || die "tests/vapi_emulator/server.py is missing (issue 5)"
  # The state file keeps the emulated account across emulator restarts, like the real Vapi.
  nohup "$root/.venv/bin/python" tests/vapi_emulator/server.py --host 127.0.0.1 --port "$emu_port" \
    --api-key "$emu_key" --state-file "$lab_dir/vapi-state.json" >"$lab_dir/emulator.log" 2>&1 &
  echo $! >"$pidf"
  for _ in $(seq 1 50); do
    http_ok "$emu_url/_emulator/health" && { log "Vapi emulator on $emu_url (pid $(cat "$pidf"))"; return 0; }
    kill -0 "$(cat "$pidf")" 2>/dev/null || break
    sleep 0.2
  done
  tail -n 20 "$lab_dir/emulator.log" >&2 || true
  die "the Vapi emulator did not answer on $emu_url"
}

emulator_down() {
  local pidf="$lab_dir/emulator.pid"
  if [ -f "$pidf" ]; then
    local pid; pid=$(cat "$pidf")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" && log "stopped the Vapi emulator (pid $pid)"
    fi
    rm -f "$pidf"
  fi
}

# usage: container_up [NAME IMAGE]: the edge by default; the proxy tier's box with arguments.
container_up() {
  local name=${1:-$container} img=${2:-$image} state
  state=$(docker inspect -f '{{.State.Status}}' "$name" 2>/dev/null || true)
  case $state in
    running) log "container $name is running" ;;
    "")
      log "creating container $name from $img"
      systemd_container_run "$name" "$img" --tmpfs /tmp ;;
    *) log "starting container $name ($state)"; docker start "$name" >/dev/null ;;
  esac
  systemd_container_wait "$name" || die "systemd in $name did not come up"
}

containers_up() {
  container_up
  if monitoring_on; then container_up "$proxy_container" "$proxy_image"; fi
}

# Debian 12 has no Asterisk package: the role builds it from a release tarball. Upstream's cannot
# be downloaded everywhere, so the lab serves one made from Debian's source package from inside
# the container, as an air-gapped mirror would (same as molecule/asterisk_source).
source_mirror() {
  [ "$image_name" = debian12 ] || return 0
  scripts/asterisk-source-tarball.sh "$source_cache" >&2 || die "could not produce the Asterisk source tarball"
  local manifest=$source_cache/asterisk-source.json version pj
  version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$manifest")
  pj=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pjproject"])' "$manifest")
  docker exec "$container" mkdir -p /srv/asterisk-mirror /var/cache/asterisk-externals
  docker cp "$source_cache/asterisk-$version.tar.gz" "$container:/srv/asterisk-mirror/"
  docker cp "$source_cache/asterisk-$version.sha256" "$container:/srv/asterisk-mirror/"
  docker cp "$source_cache/externals/$pj.tar.bz2" "$container:/var/cache/asterisk-externals/"
  cat >"$lab_dir/source-mirror.yml" <<YAML
asterisk_install_method: source
asterisk_source_version: "$version"
asterisk_source_url: file:///srv/asterisk-mirror/asterisk-$version.tar.gz
asterisk_source_checksum: sha256:file:///srv/asterisk-mirror/asterisk-$version.sha256
asterisk_externals_cache_dir: /var/cache/asterisk-externals
YAML
  inventory_args+=(-e "@$lab_dir/source-mirror.yml")
}

deploy() {
  mkdir -p "$lab_dir"
  source_mirror
  log "ansible-playbook $playbook ${inventory_args[*]#$root/} $*"
  set +e
  ansible-playbook "$playbook" "${inventory_args[@]}" "$@" 2>&1 | tee "$lab_dir/site.log"
  local rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" -eq 0 ] || die "$playbook failed (rc $rc), log: $lab_dir/site.log"
  local recap
  recap=$(grep -E '^\S+\s+: ok=' "$lab_dir/site.log" | tail -n 5)
  log "recap: $(echo "$recap" | tr -s ' ')"
}

# SIPp is lab tooling, not part of the product: installed here, never by the roles.
lab_tools() {
  if docker exec "$container" sh -c 'command -v sipp' >/dev/null 2>&1; then return 0; fi
  log "installing sip-tester (SIPp) in $container"
  # sid's Release file in the archive snapshot is expired, hence Check-Valid-Until=false.
  mkdir -p "$lab_dir"
  # apt's notes (debconf has no apt-utils, ...) go to a log: they are not the lab's business.
  docker exec -e DEBIAN_FRONTEND=noninteractive "$container" sh -c \
    'apt-get -qq -o Acquire::Check-Valid-Until=false update &&
     apt-get install -y -qq --no-install-recommends sip-tester' >"$lab_dir/sipp-install.log" 2>&1 \
    || { tail -n 20 "$lab_dir/sipp-install.log" >&2; die "could not install sip-tester in $container"; }
}

lab_did() {
  ansible-inventory -i "$inventory" --host byom-lab-vps 2>/dev/null \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print((d.get("asterisk_dids") or [""])[0])' 2>/dev/null \
    || true
}

# The Vapi stand-in's SIPp options besides its addresses (tests/integration/test_lab_stand_in.py
# runs the stand-in with them: `scripts/lab.sh stand-in scenario|options`). No -m 1: SIPp counts
# every new Call-ID as a call, and an OPTIONS (Asterisk's qualify) is one. SIPp 3.6 (Debian 11
# and 12) then answered that OPTIONS (-aa) and ignored the INVITE that followed, its one call
# used up. The stand-in runs until the demo call is over (stopped there, at the latest by timeout).
vapi_uas_options=(-rtp_echo -aa -nostdin -trace_err)

# The loadtest role's AI-side stand-in: SIPp's built-in "uas" answers PCMU, this one PCMA (payload
# 8), so the carrier leg (uac_pcap plays PCMA) and this leg share a codec and Asterisk bridges RTP
# without transcoding. Run with -rtp_echo: media is sent back.
vapi_uas_scenario() {
  cat "$root/roles/loadtest/files/uas_pcma_echo.xml"
}

# Carrier stand-in (127.0.0.3, uac_pcap: PCMA + RFC 2833) -> Asterisk :5060 -> Vapi stand-in
# (SIPp UAS on 127.0.0.2:5070 echoing RTP). RTP is counted on Asterisk's RTP ports from the
# container's network namespace, per direction.
demo_call() {
  if real_vapi; then
    log "demo call skipped: the Vapi trunk points at real Vapi and lab traffic stays on loopback"
    return 0
  fi
  lab_tools
  local did; did=${BYOM_LAB_DID:-$(lab_did)}
  [ -n "$did" ] || die "no DID: set asterisk_dids in inventories/lab or BYOM_LAB_DID"
  local work="$lab_dir/call" pid
  rm -rf "$work"; mkdir -p "$work"
  # /root, not /tmp: /tmp is a tmpfs in the container and `docker cp` cannot see into it.
  docker exec "$container" sh -c 'rm -rf /root/byom-call && mkdir -p /root/byom-call && ln -s /usr/share/sip-tester /root/byom-call/pcap'
  vapi_uas_scenario | docker exec -i "$container" sh -c 'cat >/root/byom-call/vapi_uas.xml'
  pid=$(docker inspect -f '{{.State.Pid}}' "$container")

  docker exec -d -w /root/byom-call "$container" sh -c \
    "echo \$\$ >uas.pid; exec timeout 60 sipp -sf vapi_uas.xml -i 127.0.0.2 -p 5070 -mi 127.0.0.2 ${vapi_uas_options[*]} >uas.out 2>&1"
  nsenter -t "$pid" -n timeout 40 tcpdump -i lo -nn -q -U -w "$work/rtp.pcap" \
    'udp portrange 10000-20000' >"$work/tcpdump.log" 2>&1 &
  local tcpdump_pid=$!
  local listening=""
  for _ in $(seq 1 50); do
    if docker exec "$container" ss -Hlun 'sport = :5070' 2>/dev/null | grep -q '127\.0\.0\.2:5070'; then listening=yes; break; fi
    sleep 0.1
  done
  [ -n "$listening" ] || die "the Vapi stand-in (SIPp) is not listening on 127.0.0.2:5070: $(docker exec "$container" cat /root/byom-call/uas.out 2>&1 | tail -n 5)"
  # What Asterisk shows for the Vapi contact depends on qualify: with 0 (the default) it never
  # probes, the contact stays NonQual and is always dialled; only with qualify on must it be Avail
  # (Asterisk sends no call to a contact it saw as unreachable): then ask for a fresh qualify now
  # that the stand-in answers OPTIONS (-aa), and wait for it.
  local qualify contact
  qualify=$(docker exec "$container" asterisk -rx 'pjsip show aor vapi' 2>/dev/null \
    | awk '$1 == "qualify_frequency" {print $3; exit}')
  local want='NonQual|Unknown|Avail'
  [ "${qualify:-0}" = 0 ] || want=Avail
  for _ in $(seq 1 20); do
    [ "$want" != Avail ] || docker exec "$container" asterisk -rx 'pjsip qualify vapi' >/dev/null 2>&1 || true
    contact=$(docker exec "$container" asterisk -rx 'pjsip show contacts' 2>/dev/null | grep -E 'vapi/sip:127\.0\.0\.2:5070' || true)
    if grep -Eq "$want" <<<"$contact"; then break; fi
    sleep 0.5
  done
  grep -Eq "$want" <<<"$contact" \
    || log "the Vapi stand-in's contact is not $want in Asterisk (qualify ${qualify:-0} s): ${contact:-no contact}; calling anyway"

  log "calling $did from the carrier stand-in"
  local rc=0
  docker exec -w /root/byom-call "$container" timeout 40 sipp -sn uac_pcap -i 127.0.0.3 -p 5062 -mi 127.0.0.3 \
    -s "$did" 127.0.0.1:5060 -m 1 -nostdin -timeout 35s -timeout_error -trace_msg -message_file uac_msg.log \
    -trace_err >/dev/null 2>&1 || rc=$?
  sleep 1
  docker exec "$container" sh -c 'kill "$(cat /root/byom-call/uas.pid)"' 2>/dev/null || true
  kill -INT "$tcpdump_pid" 2>/dev/null || true
  wait "$tcpdump_pid" 2>/dev/null || true
  docker exec "$container" cat /root/byom-call/uac_msg.log >"$work/uac_msg.log" 2>/dev/null || true

  python3 - "$work" "$rc" <<'EOF'
import re, subprocess, sys, datetime
work, rc = sys.argv[1], int(sys.argv[2])
# SIPp's message trace: "----- 2026-11-24T13:57:01.123456Z" then "UDP message sent/received".
text = open(f"{work}/uac_msg.log", errors="replace").read() if rc >= 0 else ""
blocks = re.split(r"\n-{10,} ", "\n" + text)
t_invite = t_ok = None
status = None
for b in blocks:
    m = re.match(r"(\d{4}-\d\d-\d\d)[T\s]+(\d\d:\d\d:\d\d\.\d+)", b)
    if not m:
        continue
    ts = datetime.datetime.strptime(f"{m.group(1)} {m.group(2)}", "%Y-%m-%d %H:%M:%S.%f")
    if t_invite is None and "message sent" in b and re.search(r"^\s*INVITE sip:", b, re.M):
        t_invite = ts
    if "message received" in b and re.search(r"CSeq:\s*1 INVITE", b, re.I):
        sm = re.search(r"SIP/2\.0 (\d{3})", b)
        if sm and sm.group(1)[0] in "2456":
            status = status or sm.group(1)
            if sm.group(1) == "200" and t_ok is None:
                t_ok = ts
out = subprocess.run(["tcpdump", "-nn", "-q", "-r", f"{work}/rtp.pcap"], capture_output=True, text=True).stdout
flows = {}
for line in out.splitlines():
    m = re.search(r"IP (\d+\.\d+\.\d+\.\d+)\.\d+ > (\d+\.\d+\.\d+\.\d+)\.\d+: UDP", line)
    if m:
        flows[(m.group(1), m.group(2))] = flows.get((m.group(1), m.group(2)), 0) + 1
names = {"127.0.0.3": "carrier", "127.0.0.2": "vapi", "127.0.0.1": "asterisk"}
def n(src, dst):
    return flows.get((src, dst), 0)
carrier_in, to_vapi = n("127.0.0.3", "127.0.0.1"), n("127.0.0.1", "127.0.0.2")
from_vapi, carrier_out = n("127.0.0.2", "127.0.0.1"), n("127.0.0.1", "127.0.0.3")
answered = t_ok is not None and rc == 0
media = min(carrier_in, to_vapi, from_vapi, carrier_out) > 0
print(f"call answered: {'yes' if answered else 'no'} (final response {status or 'none'}, sipp rc {rc})")
print(f"media flowed: {'yes' if media else 'no'} (RTP packets carrier->asterisk {carrier_in}, asterisk->vapi {to_vapi}, "
      f"vapi->asterisk (echo) {from_vapi}, asterisk->carrier {carrier_out})")
if t_invite and t_ok:
    print(f"setup time: {(t_ok - t_invite).total_seconds() * 1000:.1f} ms (INVITE sent -> 200 OK received)")
else:
    print("setup time: n/a")
sys.exit(0 if answered and media else 1)
EOF
}

# The stand-in for the user's backend (webhooks_downstream_urls): logs each delivery (headers
# that matter and the body) as a JSON line in the container and answers 200. Lab tooling only.
downstream_script() {
  cat <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, log = int(sys.argv[1]), sys.argv[2]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        keep = ("idempotency-key", "x-byom-event-type", "x-byom-attempt", "content-type")
        line = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items() if k.lower() in keep},
                "body": json.loads(body or b"null")}
        with open(log, "a") as f:
            f.write(json.dumps(line) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
}

downstream_up() {
  if docker exec "$container" python3 -c "import socket; socket.create_connection(('127.0.0.1', $downstream_port), 1)" 2>/dev/null; then
    return 0
  fi
  downstream_script | docker exec -i "$container" sh -c 'cat >/root/byom-downstream.py'
  docker exec -d "$container" python3 /root/byom-downstream.py "$downstream_port" "$downstream_log"
  for _ in $(seq 1 25); do
    docker exec "$container" python3 -c "import socket; socket.create_connection(('127.0.0.1', $downstream_port), 1)" 2>/dev/null \
      && { log "stand-in downstream on 127.0.0.1:$downstream_port in $container (log $downstream_log)"; return 0; }
    sleep 0.2
  done
  die "the stand-in downstream did not start in $container"
}

# The emulator plays Vapi: it signs a server message with the webhook credential's secret and
# posts it to the assistant's server.url (the receiver on the edge), which queues it; the worker
# delivers it to the stand-in downstream with an Idempotency-Key.
webhook_demo() {
  webhooks_on || die "BYOM_LAB_WEBHOOKS=1 is not set: the lab has no webhook receiver"
  real_vapi && { log "webhook demo skipped: only the emulator can be told to send a server message"; return 0; }
  downstream_up
  python3 - "$emu_url" "$emu_key" "${1:-end-of-call-report}" "$container" "$downstream_log" <<'PY'
import json, subprocess, sys, time, urllib.request
url, api_key, kind, container, log = sys.argv[1:6]
def call(method, path, body=None, auth=True):
    req = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    if auth:
        req.add_header("Authorization", "Bearer " + api_key)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())
assistants = [a for a in call("GET", "/assistant") if (a.get("server") or {}).get("credentialId")]
if not assistants:
    sys.exit("no assistant with a server.credentialId in the emulator: deploy with BYOM_LAB_WEBHOOKS=1 first")
# The lab's certificate is self-signed: the emulator skips verification (real Vapi needs a trusted one).
sent = call("POST", "/_emulator/webhook", {"assistantId": assistants[0]["id"], "type": kind, "verify_tls": False}, auth=False)
print("webhook sent: %s to %s -> HTTP %s %s" % (kind, sent["url"], sent["status"], json.dumps(sent["body"])))
key = (sent["body"] or {}).get("idempotencyKey") if isinstance(sent["body"], dict) else None
if sent["status"] != 200 or not key:
    sys.exit(1)
deadline = time.time() + 20
while time.time() < deadline:
    out = subprocess.run(["docker", "exec", container, "cat", log], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    got = [json.loads(line) for line in out.splitlines() if line.strip()]
    hit = [g for g in got if g["headers"].get("idempotency-key") == key]
    if hit:
        print("webhook delivered: yes (idempotency key %s, type %s, attempt %s)" % (
            key, hit[0]["headers"].get("x-byom-event-type"), hit[0]["headers"].get("x-byom-attempt")))
        sys.exit(0)
    time.sleep(0.5)
print("webhook delivered: no (key %s not in %s after 20 s)" % (key, log))
sys.exit(1)
PY
}

status() {
  printf 'container: %s (%s)\n' "$container" "$(docker inspect -f '{{.State.Status}}' "$container" 2>/dev/null || echo absent)"
  if monitoring_on; then
    printf 'proxy container: %s (%s)\n' "$proxy_container" "$(docker inspect -f '{{.State.Status}}' "$proxy_container" 2>/dev/null || echo absent)"
  fi
  if real_vapi; then printf 'vapi: %s (real API)\n' "$VAPI_API_URL"
  elif [ -f "$lab_dir/emulator.pid" ] && kill -0 "$(cat "$lab_dir/emulator.pid")" 2>/dev/null; then
    printf 'vapi: emulator %s (pid %s)\n' "$emu_url" "$(cat "$lab_dir/emulator.pid")"
  else printf 'vapi: emulator not running\n'; fi
}

cmd=${1:-up}; shift || true
case $cmd in
  up)
    setup_machine
    emulator_up
    containers_up
    deploy "$@"
    demo_call
    if webhooks_on; then webhook_demo; fi
    ;;
  deploy) emulator_up; containers_up; deploy "$@"; if webhooks_on; then downstream_up; fi ;;
  call) demo_call ;;
  webhook) webhook_demo "$@" ;;
  status) status ;;
  stand-in)
    case ${1:-} in
      scenario) vapi_uas_scenario ;;
      options) printf '%s\n' "${vapi_uas_options[@]}" ;;
      *) echo "usage: $0 stand-in scenario|options" >&2; exit 2 ;;
    esac ;;
  down)
    for c in "$container" "$proxy_container"; do
      if docker inspect "$c" >/dev/null 2>&1; then
        docker rm -f "$c" >/dev/null && log "removed container $c"
      fi
    done
    emulator_down
    # The emulated Vapi account goes with the lab (a real account is never touched here).
    rm -f "$lab_dir/vapi-state.json"
    ;;
  *) echo "usage: $0 up|deploy|call|webhook|status|down|stand-in" >&2; exit 2 ;;
esac
