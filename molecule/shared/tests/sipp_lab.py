"""SIPp helpers for the Asterisk scenarios: every run is bounded by -m and `timeout`.

Peers run inside the Asterisk container on loopback addresses (never elsewhere):
127.0.0.2 = Vapi, 127.0.0.3 = carrier, 127.0.0.4 = attacker. Scenario XML: /opt/byom-sipp.
"""
import ipaddress
import json
import re
import time
import uuid

ASTERISK = "127.0.0.1:5060"
SCEN = "/opt/byom-sipp"
RUN = "/tmp/byom-sipp-run"
VAPI_USER = "vapi-lab"
VAPI_PASS = "lab-digest-secret-0123"  # lab-only value from vars/lab.yml


def poll(read, done, limit=10.0, step=0.25):
    """read() until done(value) or `limit` seconds have passed; returns the last value either way,
    so the caller's assertion shows what was seen. Replaces sleep-then-read-once."""
    deadline = time.monotonic() + limit
    while True:
        value = read()
        if done(value) or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def _name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def responses(msg):
    """Status codes SIPp received (and sent, for a UAS), in order."""
    return [int(c) for c in re.findall(r"^SIP/2\.0 (\d{3})", msg, re.M)]


def invites_received(msg):
    return len(re.findall(r"^INVITE sip:", msg, re.M))


class Uas:
    """A background SIPp UAS (by default answering PCMA); stop() returns its message trace.

    scenario, transport (SIPp's -t: u1, t1, ...) and extra options serve the scenarios that need
    another peer (a registrar, a TCP carrier)."""

    def __init__(self, host, ip, port, calls=1, echo=True, timeout=60, scenario="uas_pcma.xml", transport=None,
                 extra=""):
        self.host = host
        self.name = _name(f"uas-{ip}-{port}")
        opts = " ".join(o for o in ("-rtp_echo" if echo else "", f"-t {transport}" if transport else "", extra) if o)
        cmd = (
            f"mkdir -p {RUN} && cd {RUN} && setsid -f sh -c 'echo $$ > {self.name}.pid; "
            f"exec timeout {timeout} sipp -sf {SCEN}/{scenario} {opts} -i {ip} -p {port} -mi {ip} "
            f"-m {calls} -nostdin -trace_msg -message_file {self.name}.msg "
            f"-trace_err -error_file {self.name}.err >/dev/null 2>&1'"
        )
        assert host.run(cmd).rc == 0
        # Wait (bounded) until the UAS socket listens.
        proto = "t" if (transport or "u").startswith("t") else "u"
        for _attempt in range(20):
            if host.run(f"ss -Hl{proto}n 'sport = :{port}' | grep -q {ip}").rc == 0:
                break
            time.sleep(0.25)
        else:
            raise AssertionError(f"SIPp {scenario} on {ip}:{port} did not start")

    def trace(self):
        return self.host.run(f"cat {RUN}/{self.name}.msg 2>/dev/null").stdout

    def stop(self, wait=0):
        for _attempt in range(int(wait * 4)):
            if self.host.run(f"kill -0 $(cat {RUN}/{self.name}.pid) 2>/dev/null").rc != 0:
                break
            time.sleep(0.25)
        self.host.run(f"kill $(cat {RUN}/{self.name}.pid) 2>/dev/null")
        # SIPp flushes its message trace as it exits: read it once the process is gone (bounded).
        poll(lambda: self.host.run(f"kill -0 $(cat {RUN}/{self.name}.pid) 2>/dev/null").rc, lambda rc: rc != 0, limit=5)
        return self.trace()


def uac(host, scenario, ip, port, service, extra="", calls=1, timeout=40, background=False, target=ASTERISK,
        transport=None):
    """Run a SIPp UAC; returns (rc, message trace) or, in background, the trace file name."""
    name = _name(f"uac-{ip}-{port}")
    opts = f"-t {transport} " if transport else ""
    cmd = (
        f"timeout {timeout} sipp -sf {SCEN}/{scenario} {opts}-i {ip} -p {port} -mi {ip} {target} "
        f"-s '{service}' -m {calls} {extra} -nostdin -trace_msg -message_file {name}.msg "
        f"-trace_err -error_file {name}.err"
    )
    if background:
        host.run(f"mkdir -p {RUN} && cd {RUN} && setsid -f sh -c '{cmd} >/dev/null 2>&1; echo $? > {name}.rc'")
        return name
    result = host.run(f"mkdir -p {RUN} && cd {RUN} && {cmd} >/dev/null 2>&1")
    return result.rc, host.run(f"cat {RUN}/{name}.msg 2>/dev/null").stdout


def wait_background(host, name, limit=60):
    for _attempt in range(limit * 2):
        rc = host.run(f"cat {RUN}/{name}.rc 2>/dev/null").stdout.strip()
        if rc:
            return int(rc), host.run(f"cat {RUN}/{name}.msg 2>/dev/null").stdout
        time.sleep(0.5)
    raise AssertionError(f"SIPp {name} did not finish in {limit}s")


def cli(host, command):
    return host.check_output(f"asterisk -rx '{command}'")


def transport_fields(host, name="transport-udp"):
    """{option: [values]} from `pjsip show transport <name>` (local_net may be comma-joined)."""
    fields = {}
    for line in cli(host, f"pjsip show transport {name}").splitlines():
        m = re.match(r"\s*([a-z_]+)\s*:\s*(.*?)\s*$", line)
        if m:
            fields.setdefault(m.group(1), []).append(m.group(2))
    return fields


def default_network(host):
    """The container's default interface network, e.g. IPv4Network('172.17.0.0/16')."""
    dev = re.search(r"\bdev (\S+)", host.check_output("ip -4 route show default")).group(1)
    cidr = re.search(r"\binet (\S+)", host.check_output(f"ip -4 -o addr show dev {dev}")).group(1)
    return ipaddress.ip_interface(cidr).network


def local_nets(fields):
    """The transport's local_net values as networks ('a.b.c.d/m.m.m.m' or '/nn')."""
    nets = set()
    for value in fields.get("local_net", []):
        for part in value.split(","):
            part = part.strip().lstrip("!")
            if part:
                nets.add(ipaddress.ip_network(part, strict=False))
    return nets


# What each source gets for each out-of-dialog request (files/probe/sip_probe.py), with the
# role's Vapi endpoint (allow_unauthenticated_options=yes, digest, ip identify + ACL):
# (source, port, method, Request-URI user, final code, security-log event or None).
OPTIONS_PING_CASES = [
    # Vapi's ping: no user part (how a jambonz-style OPTIONS bot pings a gateway), no digest.
    ("127.0.0.2", 5140, "OPTIONS", "", 200, None),
    # A user part is answered as an INVITE to it would be: routed numbers 200, others 404.
    ("127.0.0.2", 5140, "OPTIONS", "+12125550123", 200, None),
    ("127.0.0.2", 5140, "OPTIONS", "12125550123", 200, None),
    ("127.0.0.2", 5140, "OPTIONS", "ping", 404, None),
    # Every other method from Vapi's address is still challenged (identified: not counted by fail2ban).
    ("127.0.0.2", 5141, "INVITE", "+12125550123", 401, 'ChallengeSent",.*AccountID="vapi"'),
    ("127.0.0.2", 5141, "INVITE", "", 401, 'ChallengeSent",.*AccountID="vapi"'),
    ("127.0.0.2", 5141, "REGISTER", "", 401, 'ChallengeSent",.*AccountID="vapi"'),
    ("127.0.0.2", 5141, "MESSAGE", "+12125550123", 401, 'ChallengeSent",.*AccountID="vapi"'),
    ("127.0.0.2", 5141, "SUBSCRIBE", "", 401, 'ChallengeSent",.*AccountID="vapi"'),
    # The carrier endpoint has no inbound digest: its OPTIONS were 200 before and still are.
    ("127.0.0.3", 5142, "OPTIONS", "", 200, None),
    # Anyone else meets the artificial endpoint: 401 and an InvalidAccountID line fail2ban counts.
    ("127.0.0.4", 5143, "OPTIONS", "", 401, 'InvalidAccountID",.*RemoteAddress="IPV4/UDP/127\\.0\\.0\\.4/5143"'),
    ("127.0.0.4", 5143, "OPTIONS", "+12125550123", 401, 'InvalidAccountID",.*RemoteAddress="IPV4/UDP/127\\.0\\.0\\.4/5143"'),
]


def sip_probe(host, src, port, method, user=""):
    """One request from src:port to Asterisk; {"method", "ruri", "call_id", "code"}."""
    return json.loads(host.check_output(f"timeout 15 python3 {SCEN}/sip_probe.py {src} {port} {method} '{user}'"))


def options_ping_matrix(host, log="/var/log/asterisk/security"):
    """Run OPTIONS_PING_CASES; return ({case: code}, {case: [security log lines of its Call-ID]},
    the expected codes and events). The security log is written asynchronously: wait (bounded)
    until every expected event is there, so an absent line is absent, not late."""
    results, call_ids = {}, {}
    for src, port, method, user, _code, _event in OPTIONS_PING_CASES:
        answer = sip_probe(host, src, port, method, user)
        key = (src, method, user)
        results[key], call_ids[key] = answer["code"], answer["call_id"]
    expected = {(src, method, user): code for src, _port, method, user, code, _event in OPTIONS_PING_CASES}
    events = {}
    for _attempt in range(20):
        text = host.run(f"cat {log} 2>/dev/null").stdout
        events = {key: [line for line in text.splitlines() if f'SessionID="{call_id}"' in line]
                  for key, call_id in call_ids.items()}
        if all(not event or any(re.search(event, line) for line in events[(src, method, user)])
               for src, _port, method, user, _code, event in OPTIONS_PING_CASES):
            break
        time.sleep(0.5)
    return results, expected, events


def assert_options_ping(host):
    """Vapi's OPTIONS ping gets 200 without a challenge; nothing else got weaker (see OPTIONS_PING_CASES)."""
    endpoint = cli(host, "pjsip show endpoint vapi")
    assert re.search(r"^ allow_unauthenticated_options\s+: true$", endpoint, re.M), endpoint
    assert re.search(r"^ auth\s+: vapi-inbound$", endpoint, re.M), endpoint
    results, expected, events = options_ping_matrix(host)
    assert results == expected
    for src, _port, method, user, _code, event in OPTIONS_PING_CASES:
        lines = events[(src, method, user)]
        if event is None:
            # No challenge, no failure: nothing for fail2ban to count.
            assert lines == [], (src, method, user, lines)
        else:
            assert any(re.search(event, line) for line in lines), (src, method, user, event, lines)
