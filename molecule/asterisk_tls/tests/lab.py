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
# molecule/shared/tests (the verifier's PYTHONPATH): the SIPp peers every Asterisk scenario uses.
from sipp_lab import RUN, SCEN as PEERS, Uas, cli, responses, uac as sipp_uac
CA = "/etc/byom-lab-tls/ca.crt"

with open(os.path.join(os.path.dirname(__file__), "..", "vars", "lab.yml"), encoding="utf-8") as lab_file:
    LAB = yaml.safe_load(lab_file)
CARRIERS = {trunk["name"]: trunk for trunk in LAB["asterisk_carrier_trunks"]}


def requests(msg, method):
    return len(re.findall(rf"^{method} sip:", msg, re.M))


def sipp_peer(host, scenario, ip, port, transport="u1", calls=1, extra="", timeout=40):
    """A background SIPp peer on `transport` (a registrar, a carrier); stop() returns its message trace."""
    return Uas(host, ip, port, calls=calls, echo=False, timeout=timeout, scenario=scenario, transport=transport,
               extra=extra)


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
    return sipp_uac(host, scenario, ip, port, service, extra=extra, timeout=timeout, target=target, transport=transport)


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
