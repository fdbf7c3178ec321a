"""Helpers for the asterisk_tls scenario: lab peers inside the container, every run bounded.

Peers use loopback addresses only: 127.0.0.2 = Vapi (files/sip_uac.py over TLS),
127.0.0.3 = carrier over UDP, 127.0.0.5 = carrier over TCP (SIPp). Files: /opt/byom-sipp.
"""
import json
import os
import re
import shlex
import time
import uuid

import yaml

PEERS = "/opt/byom-sipp"
RUN = "/tmp/byom-tls-run"
CA = "/etc/byom-lab-tls/ca.crt"

with open(os.path.join(os.path.dirname(__file__), "..", "vars", "lab.yml"), encoding="utf-8") as lab_file:
    LAB = yaml.safe_load(lab_file)
CARRIERS = {trunk["name"]: trunk for trunk in LAB["asterisk_carrier_trunks"]}


def cli(host, command):
    return host.check_output(f"asterisk -rx {shlex.quote(command)}")


def responses(msg):
    """Status codes in a SIPp message trace (received and, for a UAS, sent), in order."""
    return [int(c) for c in re.findall(r"^SIP/2\.0 (\d{3})", msg, re.M)]


def requests(msg, method):
    return len(re.findall(rf"^{method} sip:", msg, re.M))


class Sipp:
    """A background SIPp UAS; stop() returns its message trace."""

    def __init__(self, host, scenario, ip, port, transport="u1", calls=1, extra="", timeout=40):
        self.host = host
        self.name = f"uas-{ip}-{port}-{uuid.uuid4().hex[:8]}"
        cmd = (
            f"mkdir -p {RUN} && cd {RUN} && setsid -f sh -c 'echo $$ > {self.name}.pid; "
            f"exec timeout {timeout} sipp -sf {PEERS}/{scenario} -t {transport} -i {ip} -p {port} -mi {ip} "
            f"-m {calls} {extra} -nostdin -trace_msg -message_file {self.name}.msg "
            f"-trace_err -error_file {self.name}.err >/dev/null 2>&1'"
        )
        assert host.run(cmd).rc == 0
        proto = "t" if transport.startswith("t") else "u"
        for attempt in range(20):
            if host.run(f"ss -Hl{proto}n 'sport = :{port}' | grep -q {ip}").rc == 0:
                break
            time.sleep(0.25)
        else:
            raise AssertionError(f"SIPp {scenario} on {ip}:{port} did not start ({attempt + 1} checks)")

    def trace(self):
        return self.host.run(f"cat {RUN}/{self.name}.msg 2>/dev/null").stdout

    def stop(self, wait=0.0):
        """Let SIPp finish by itself for up to `wait` seconds, then stop it; return its trace."""
        for _attempt in range(int(wait * 4)):
            if self.host.run(f"kill -0 $(cat {RUN}/{self.name}.pid) 2>/dev/null").rc != 0:
                break
            time.sleep(0.25)
        self.host.run(f"kill $(cat {RUN}/{self.name}.pid) 2>/dev/null; sleep 0.2")
        return self.host.run(f"cat {RUN}/{self.name}.msg 2>/dev/null").stdout


def uac(host, args, password="", timeout=30):
    """Run files/sip_uac.py in the container; returns its JSON result."""
    env = f"BYOM_SIP_PASSWORD={shlex.quote(password)} " if password else ""
    result = host.run(f"{env}timeout {timeout} python3 {PEERS}/sip_uac.py {args} --timeout {timeout - 5}")
    assert result.stdout.strip(), f"sip_uac.py printed nothing (rc {result.rc}): {result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


class TlsUas:
    """files/sip_tls_uas.py in the background (Vapi answering over TLS); result() returns its JSON."""

    def __init__(self, host, timeout=25):
        self.host = host
        self.name = f"tls-uas-{uuid.uuid4().hex[:8]}"
        assert host.run(
            f"mkdir -p {RUN} && cd {RUN} && setsid -f sh -c 'exec timeout {timeout + 5} python3 "
            f"{PEERS}/sip_tls_uas.py --timeout {timeout} >{self.name}.json 2>{self.name}.err'"
        ).rc == 0
        for _attempt in range(40):
            if "listening" in host.run(f"cat {RUN}/{self.name}.err").stdout:
                return
            time.sleep(0.25)
        raise AssertionError("sip_tls_uas.py did not start: " + host.run(f"cat {RUN}/{self.name}.err").stdout)

    def result(self, limit=30):
        for _attempt in range(limit * 4):
            out = self.host.run(f"cat {RUN}/{self.name}.json").stdout.strip()
            if out:
                return json.loads(out)
            time.sleep(0.25)
        raise AssertionError(f"sip_tls_uas.py gave no result in {limit}s")


def uac_sipp(host, scenario, ip, port, target, service, transport="u1", extra="", timeout=30):
    """A SIPp UAC run to its end; returns (rc, message trace)."""
    name = f"uac-{ip}-{port}-{uuid.uuid4().hex[:8]}"
    result = host.run(
        f"mkdir -p {RUN} && cd {RUN} && timeout {timeout} sipp -sf {PEERS}/{scenario} -t {transport} "
        f"-i {ip} -p {port} -mi {ip} {target} -s {shlex.quote(service)} -m 1 {extra} -nostdin "
        f"-trace_msg -message_file {name}.msg >/dev/null 2>&1"
    )
    return result.rc, host.run(f"cat {RUN}/{name}.msg 2>/dev/null").stdout


def registration_status(host, trunk):
    out = cli(host, "pjsip show registrations")
    match = re.search(rf"^\s*{trunk}-reg/\S+\s+\S+\s+(\w+)", out, re.M)
    return match.group(1) if match else None


def wait_registration(host, trunk, wanted, registrar, sent_code, limit=15):
    """Poll (bounded) until the registrar has answered `sent_code` and the trunk's registration
    shows `wanted` (the status before this attempt may already be the same); returns the status."""
    status = None
    for attempt in range(limit * 4):
        status = registration_status(host, trunk)
        codes = responses(registrar.trace())
        if status == wanted and sent_code in codes:
            return status
        # A `pjsip send register` given while an earlier attempt (e.g. the one at start-up towards
        # a registrar that was not there yet) is still in its transaction is dropped: ask again
        # every 3 s until this registrar has seen a REGISTER.
        if not codes and attempt and attempt % 12 == 0:
            cli(host, f"pjsip send register {trunk}-reg")
        time.sleep(0.25)
    return status
