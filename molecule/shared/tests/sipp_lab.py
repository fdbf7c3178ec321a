"""SIPp helpers for the Asterisk scenarios: every run is bounded by -m and `timeout`.

Peers run inside the Asterisk container on loopback addresses (never elsewhere):
127.0.0.2 = Vapi, 127.0.0.3 = carrier, 127.0.0.4 = attacker. Scenario XML: /opt/byom-sipp.
"""
import ipaddress
import re
import time
import uuid

ASTERISK = "127.0.0.1:5060"
SCEN = "/opt/byom-sipp"
RUN = "/tmp/byom-sipp-run"
VAPI_USER = "vapi-lab"
VAPI_PASS = "lab-digest-secret-0123"  # lab-only value from vars/lab.yml


def _name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def responses(msg):
    """Status codes SIPp received (and sent, for a UAS), in order."""
    return [int(c) for c in re.findall(r"^SIP/2\.0 (\d{3})", msg, re.M)]


def invites_received(msg):
    return len(re.findall(r"^INVITE sip:", msg, re.M))


class Uas:
    """A background SIPp UAS answering PCMA; stop() returns its message trace."""

    def __init__(self, host, ip, port, calls=1, echo=True, timeout=60):
        self.host = host
        self.name = _name(f"uas-{ip}-{port}")
        echo_opt = "-rtp_echo" if echo else ""
        cmd = (
            f"mkdir -p {RUN} && cd {RUN} && setsid -f sh -c 'echo $$ > {self.name}.pid; "
            f"exec timeout {timeout} sipp -sf {SCEN}/uas_pcma.xml {echo_opt} -i {ip} -p {port} -mi {ip} "
            f"-m {calls} -nostdin -trace_msg -message_file {self.name}.msg "
            f"-trace_err -error_file {self.name}.err >/dev/null 2>&1'"
        )
        assert host.run(cmd).rc == 0
        # Wait (bounded) until the UAS socket listens.
        for _attempt in range(20):
            if host.run(f"ss -Hlun 'sport = :{port}' | grep -q {ip}").rc == 0:
                break
            time.sleep(0.25)
        else:
            raise AssertionError(f"SIPp UAS {ip}:{port} did not start")

    def stop(self, wait=0):
        for _attempt in range(int(wait * 4)):
            if self.host.run(f"kill -0 $(cat {RUN}/{self.name}.pid) 2>/dev/null").rc != 0:
                break
            time.sleep(0.25)
        self.host.run(f"kill $(cat {RUN}/{self.name}.pid) 2>/dev/null; sleep 0.2")
        return self.host.run(f"cat {RUN}/{self.name}.msg 2>/dev/null").stdout


def uac(host, scenario, ip, port, service, extra="", calls=1, timeout=40, background=False):
    """Run a SIPp UAC; returns (rc, message trace) or, in background, the trace file name."""
    name = _name(f"uac-{ip}-{port}")
    cmd = (
        f"timeout {timeout} sipp -sf {SCEN}/{scenario} -i {ip} -p {port} -mi {ip} {ASTERISK} "
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
