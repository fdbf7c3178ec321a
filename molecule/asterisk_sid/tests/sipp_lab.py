"""SIPp helpers for the Asterisk scenarios: every run is bounded by -m and `timeout`.

Peers run inside the Asterisk container on loopback addresses (never elsewhere):
127.0.0.2 = Vapi, 127.0.0.3 = carrier, 127.0.0.4 = attacker. Scenario XML: /opt/byom-sipp.
"""
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
