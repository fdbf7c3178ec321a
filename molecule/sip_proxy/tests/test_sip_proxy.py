"""Proof of the sip_proxy role (Molecule verify): real Kamailio from Debian 12 in front of two
pool nodes (SIPp UAS stand-ins), SIPp's carrier UAC on the controller.

Order matters (pytest runs the tests top to bottom): spread, then failover under load, then
drain under load. The failover and drain figures go to .cache/sip_proxy_results.json.
"""

import csv
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

PROXY = "byom-mol-proxy-kamailio"
NODES = ["byom-mol-proxy-node1", "byom-mol-proxy-node2"]
NETWORK = "byom-mol-proxy-net"
ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
UAC_XML = ROOT / "molecule/sip_proxy/files/carrier_uac.xml"
RESULTS = ROOT / ".cache/sip_proxy_results.json"
UAC_PORT = 5391
# Calls per second and hold time of the load phases: about 60 concurrent calls.
RATE = 10
HOLD_MS = 6000
DRAIN_CALLS = 400


def run(*argv, check=True, timeout=120):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)


def dexec(container, *argv, check=True, timeout=60):
    return run("docker", "exec", container, *argv, check=check, timeout=timeout)


def container_ip(name):
    return run("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name).stdout.strip()


def gateway_ip():
    return run("docker", "network", "inspect", NETWORK, "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}").stdout.strip()


def node_uri(node):
    return f"sip:{container_ip(node)}:5060"


def ds_flags():
    """{uri: flags} from Kamailio's RPC (kamcmd dispatcher.list)."""
    out = dexec(PROXY, "kamcmd", "dispatcher.list").stdout
    flags, uri = {}, None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("URI:"):
            uri = line.split(None, 1)[1]
        elif line.startswith("FLAGS:") and uri:
            flags[uri] = line.split(None, 1)[1]
    return flags


def wait_flag(node, first_letter, timeout):
    uri, t0 = node_uri(node), time.monotonic()
    while time.monotonic() - t0 < timeout:
        if ds_flags().get(uri, "")[:1] == first_letter:
            return time.monotonic() - t0
        time.sleep(0.2)
    raise AssertionError(f"{uri} did not reach state {first_letter} in {timeout} s: {ds_flags()}")


def last_row(text):
    rows = list(csv.reader(text.splitlines(), delimiter=";"))
    return dict(zip(rows[0], rows[-1]))


def node_stats(node):
    """The node UAS's counters: INVITEs received, calls in progress, failed calls."""
    stat = last_row(dexec(node, "cat", "/var/tmp/uas/stat.csv").stdout)
    counts = last_row(dexec(node, "sh", "-c", "cat /var/tmp/uas/*_counts.csv").stdout)
    return {
        "invites": int(counts["1_INVITE_Recv"]),
        "current": int(stat["CurrentCall"]),
        "failed": int(stat["FailedCall(C)"]),
    }


def start_node(node):
    dexec(node, "systemctl", "restart", "byom-node-uas")
    time.sleep(1.5)  # first statistics dump


class Uac:
    """SIPp carrier UAC through the proxy, bounded by a call count and a timeout."""

    def __init__(self, calls, tmp_path, rate=RATE, hold_ms=HOLD_MS):
        self.stat = tmp_path / f"uac-{calls}-{time.monotonic_ns()}.csv"
        self.calls = calls
        self.proc = subprocess.Popen(
            ["sipp", f"{container_ip(PROXY)}:5060", "-sf", str(UAC_XML), "-i", gateway_ip(), "-p", str(UAC_PORT),
             "-r", str(rate), "-m", str(calls), "-d", str(hold_ms), "-nostdin",
             "-trace_stat", "-stf", str(self.stat), "-fd", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        row = last_row(self.stat.read_text())
        return {"created": int(row["TotalCallCreated"]), "ok": int(row["SuccessfulCall(C)"]),
                "failed": int(row["FailedCall(C)"])}


def kamailio_log():
    return dexec(PROXY, "journalctl", "--no-pager", "-o", "cat").stdout


def record(**figures):
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.update(figures)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print("sip_proxy figures:", json.dumps(figures, sort_keys=True))


def options(src_container=None, count=1, wait=1.0):
    """Send OPTIONS to the proxy; return how many got a 200. From the controller (the
    carrier) or from inside a container (an unknown source)."""
    proxy = container_ip(PROXY)
    code = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(float(sys.argv[4]));s.bind((sys.argv[2],0))\n"
        "ok=0\n"
        "for i in range(int(sys.argv[3])):\n"
        "  m=('OPTIONS sip:%s:5060 SIP/2.0\\r\\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-byom%d\\r\\n'\n"
        "     'From: <sip:probe@%s>;tag=t%d\\r\\nTo: <sip:%s>\\r\\nCall-ID: byom-probe-%d\\r\\nCSeq: 1 OPTIONS\\r\\n'\n"
        "     'Max-Forwards: 70\\r\\nUser-Agent: byom-test\\r\\nContent-Length: 0\\r\\n\\r\\n')%(\n"
        "     sys.argv[1],sys.argv[2],s.getsockname()[1],i,sys.argv[2],i,sys.argv[1],i)\n"
        "  s.sendto(m.encode(),(sys.argv[1],5060))\n"
        "  try:\n"
        "    ok+=s.recv(4096).startswith(b'SIP/2.0 200')\n"
        "  except socket.timeout:\n"
        "    pass\n"
        "print(ok)\n")
    if src_container:
        src = container_ip(src_container)
        out = dexec(src_container, "python3", "-c", code, proxy, src, str(count), str(wait), timeout=count * wait + 30).stdout
    else:
        out = run("python3", "-c", code, proxy, gateway_ip(), str(count), str(wait), timeout=count * wait + 30).stdout
    return int(out.strip())


@pytest.fixture(scope="module", autouse=True)
def pool_up():
    for node in NODES:
        start_node(node)
    for node in NODES:
        wait_flag(node, "A", 30)
    yield


def test_both_nodes_probed_active():
    flags = ds_flags()
    assert sorted(flags.values()) == ["AP", "AP"], flags


def test_options_from_carrier_200_unknown_source_silence():
    assert options() == 1
    # The proxy's own address is neither Vapi, a carrier nor a node: no reply at all.
    assert options(PROXY) == 0


def test_load_spread_over_both_nodes(tmp_path):
    before = {n: node_stats(n)["invites"] for n in NODES}
    res = Uac(100, tmp_path, hold_ms=3000).wait(90)
    time.sleep(1.5)
    got = {n: node_stats(n)["invites"] - before[n] for n in NODES}
    assert res == {"created": 100, "ok": 100, "failed": 0}, res
    # Call-load (least active calls): an even split within +-15 calls.
    assert sum(got.values()) == 100, got
    assert all(35 <= v <= 65 for v in got.values()), got
    record(proxy_spread_calls_per_node=list(got.values()))


def test_failover_node_killed_under_load(tmp_path):
    dead, survivor = NODES[1], NODES[0]
    survivor_failed_before = node_stats(survivor)["failed"]
    uac = Uac(250, tmp_path)
    time.sleep(8)
    on_dead = node_stats(dead)["current"]
    on_survivor = node_stats(survivor)["current"]
    dexec(dead, "systemctl", "kill", "-s", "KILL", "byom-node-uas")
    failover_s = wait_flag(dead, "I", 30)
    res = uac.wait(120)
    survivor_failed = node_stats(survivor)["failed"] - survivor_failed_before
    record(failover_s=round(failover_s, 2), calls_lost_on_failover=res["failed"],
           calls_on_dead_node_at_kill=on_dead, calls_on_survivor_at_kill=on_survivor,
           failover_calls_total=res["created"], failover_calls_ok=res["ok"])
    assert on_dead > 0 and on_survivor > 0, (on_dead, on_survivor)
    assert res["created"] == 250, res
    # Only calls that were on the dead node are lost (+ those it took in the last statistics
    # second before the kill); every call on the survivor and every new call completes.
    assert 0 < res["failed"] <= on_dead + RATE, (res, on_dead)
    assert survivor_failed == 0
    # Under load the dead node is marked down by the INVITEs it leaves unanswered (failure_route).
    log = kamailio_log()
    assert f"node {node_uri(dead)} did not answer the INVITE" in log, log[-3000:]


def test_dead_node_comes_back_after_answered_probes():
    start_node(NODES[1])
    wait_flag(NODES[1], "A", 30)
    assert f"node UP: {node_uri(NODES[1])}" in kamailio_log()


def test_idle_node_death_found_by_probes_and_logged():
    # No traffic: only the OPTIONS probes can notice, and the dst-down event route logs it.
    node = NODES[1]
    dexec(node, "systemctl", "kill", "-s", "KILL", "byom-node-uas")
    detect_s = wait_flag(node, "I", 60)
    record(probe_detection_s=round(detect_s, 1))
    log = kamailio_log()
    assert f"node DOWN: {node_uri(node)}" in log, log[-3000:]
    start_node(node)
    wait_flag(node, "A", 30)


def drain_playbook(node, action="drain"):
    nodes = [{"name": n.rsplit("-", 1)[1], "address": container_ip(n)} for n in NODES]
    extra = {"sip_proxy_hosts": "sip_proxy", "sip_proxy_drain_node": node.rsplit("-", 1)[1],
             "sip_proxy_drain_action": action, "sip_proxy_nodes": nodes}
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")
    out = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_EPHEMERAL_DIRECTORY"] + "/inventory", str(ROOT / "playbooks/sip_proxy_drain.yml"),
                          "-e", json.dumps(extra)], capture_output=True, text=True, check=True, timeout=180, env=env).stdout
    recap = [line for line in out.splitlines() if line.startswith(PROXY)][-1]
    return int(recap.split("changed=")[1].split()[0])


def test_drain_under_load_drops_nothing(tmp_path):
    drained, other = NODES[1], NODES[0]
    # Long enough that calls are still up on the node after the playbook (slow on a busy box) returns.
    uac = Uac(DRAIN_CALLS, tmp_path)
    time.sleep(5)
    t0 = time.monotonic()
    assert drain_playbook(drained) == 1
    drain_s = time.monotonic() - t0
    assert ds_flags()[node_uri(drained)].startswith("D")
    time.sleep(1.5)
    at_drain = node_stats(drained)
    res = uac.wait(180)
    time.sleep(1.5)
    after = node_stats(drained)
    record(drain_calls_in_progress=at_drain["current"], drain_calls_dropped=res["failed"],
           drain_new_invites_to_drained_node=after["invites"] - at_drain["invites"],
           drain_playbook_s=round(drain_s, 1))
    assert at_drain["current"] > 0, at_drain
    assert res == {"created": DRAIN_CALLS, "ok": DRAIN_CALLS, "failed": 0}, res
    assert after["invites"] == at_drain["invites"], (at_drain, after)
    assert after["current"] == 0 and after["failed"] == 0, after
    assert node_stats(other)["failed"] == 0


def test_drain_is_idempotent_and_resume_brings_the_node_back():
    assert drain_playbook(NODES[1]) == 0
    assert drain_playbook(NODES[1], "resume") == 1
    wait_flag(NODES[1], "A", 30)
    assert drain_playbook(NODES[1], "resume") == 0


def test_flood_from_unknown_source_is_banned():
    # 200 requests within about 2 s from one unknown source: more than 30 per 2 s.
    assert options(PROXY, count=200, wait=0.01) == 0
    assert f"flood from {container_ip(PROXY)}" in kamailio_log()


def converge(*extra_args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")
    return subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_EPHEMERAL_DIRECTORY"] + "/inventory",
                           str(ROOT / "molecule/sip_proxy/converge.yml"), *extra_args],
                          capture_output=True, text=True, timeout=300, env=env, check=False)


def proxy_recap(out):
    line = [line for line in out.splitlines() if line.startswith(PROXY)][-1]
    return {k: int(v) for k, v in (f.split("=") for f in line.split(":", 1)[1].split())}


def config_sum():
    return dexec(PROXY, "md5sum", "/etc/kamailio/kamailio.cfg").stdout.split()[0]


def test_check_mode_on_converged_proxy_changes_nothing():
    res = converge("--check", "--diff")
    assert res.returncode == 0, res.stdout[-3000:]
    assert proxy_recap(res.stdout)["changed"] == 0, res.stdout[-3000:]


def test_bad_input_fails_early_naming_the_field():
    before = config_sum()
    res = converge("-e", json.dumps({"sip_proxy_nodes": [{"name": "edge9", "address": "edge9.example.com"}]}))
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "sip_proxy_nodes" in out and "edge9.example.com" in out, out[-3000:]
    assert config_sum() == before
    res = converge("-e", json.dumps({"sip_proxy_failover_codes": "5[0-9"}))
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "sip_proxy_failover_codes" in out, out[-3000:]
    assert config_sum() == before
