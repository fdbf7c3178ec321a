"""TLS/TCP transports, SDES-SRTP over TLS and carrier registration on Asterisk 22 (Debian sid).

Order matters: the registrations are brought up first (they would otherwise keep retrying
towards the carrier's port), then the calls use carrier1's port for the call UAS.
"""
import collections
import re

import pytest

from lab import (CA, CARRIERS, LAB, TlsUas, cli, registration_status, requests, responses, sipp_peer, uac, uac_sipp,
                 wait_registration)

NATIONAL = "+12125550123"
DID = LAB["asterisk_dids"][0]
VAPI_USER = LAB["asterisk_vapi_inbound_username"]
VAPI_PASS = LAB["asterisk_vapi_inbound_password"]
TLS_PORT = 5061


def _host_port(trunk):
    ip, port = CARRIERS[trunk]["host"].split(":")
    return ip, int(port)


def _s_client(host, port, *opts):
    return host.run(
        f"timeout 10 openssl s_client -connect 127.0.0.1:{port} -servername localhost -CAfile {CA} "
        f"{' '.join(opts)} </dev/null 2>&1"
    )


def _negotiated(result):
    """The protocol a handshake settled on, or None when it failed (OpenSSL 3.6 prints the
    cipher's version on the "New," line and the session's protocol on the "Protocol:" line)."""
    match = re.search(r"^Protocol\s*:\s*(TLSv[\d.]+|SSLv3)\s*$", result.stdout, re.M)
    failed = result.rc != 0 or "Cipher is (NONE)" in result.stdout
    return match.group(1) if match and not failed else None


def _finals(result):
    """Final response codes the client received, in order (provisional ones left out)."""
    return [code for code in result["codes"] if isinstance(code, int) and code >= 200]


def test_transports_udp_tcp_tls(host):
    out = cli(host, "pjsip show transports")
    found = dict(re.findall(r"^Transport:\s+(transport-\w+)\s+(\w+)\s", out, re.M))
    assert found == {"transport-udp": "udp", "transport-tcp": "tcp", "transport-tls": "tls"}, out
    listening = host.run("ss -Hlntu").stdout
    for proto, port in (("tcp", TLS_PORT), ("tcp", 5060), ("udp", 5060)):
        assert re.search(rf"^{proto}\s.*\s0\.0\.0\.0:{port}\s", listening, re.M), (proto, port, listening)


def test_tls_1_2_accepted_with_the_lab_ca(host):
    result = _s_client(host, TLS_PORT, "-tls1_2", "-verify_return_error", "-verify_ip 127.0.0.1")
    assert _negotiated(result) == "TLSv1.2", result.stdout[-2000:]
    assert "Verify return code: 0 (ok)" in result.stdout


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_tls_below_1_2_refused(host, version):
    # SECLEVEL=0 lets this OpenSSL client offer TLS 1.0/1.1 at all; the positive control on a
    # throwaway s_server proves it does, so a refusal here comes from Asterisk.
    weak = f"{version} -cipher DEFAULT@SECLEVEL=0"
    control = host.run(
        "timeout 10 openssl s_server -accept 127.0.0.1:15061 -naccept 1 -quiet "
        f"-cert /etc/byom-lab-tls/server.crt -key /etc/byom-lab-tls/server.key {weak} "
        "</dev/null >/dev/null 2>&1 & sleep 0.5; "
        f"timeout 10 openssl s_client -connect 127.0.0.1:15061 {weak} </dev/null 2>&1; rc=$?; wait; exit $rc"
    )
    assert _negotiated(control) in ("TLSv1", "TLSv1.1"), "control: the client cannot offer " + version
    result = _s_client(host, TLS_PORT, weak)
    assert _negotiated(result) is None, result.stdout[-2000:]


def test_tls_1_3_matches_the_method(host):
    """method=tlsv1_2 in Asterisk 22's pjproject: records what TLS 1.3 does (must not be below 1.2)."""
    result = _s_client(host, TLS_PORT, "-tls1_3")
    assert _negotiated(result) in (None, "TLSv1.3"), result.stdout[-2000:]


def test_registration_wrong_password_is_rejected(host):
    """The registrar expects another password: 403, and Asterisk reports the trunk as not registered."""
    ip, port = _host_port("carrier1")
    registrar = sipp_peer(host, "uas_register.xml", ip, port, calls=5,
                          extra=f"-key reguser {CARRIERS['carrier1']['username']} -key regpass not-the-configured-one")
    cli(host, "pjsip send register carrier1-reg")
    status = wait_registration(host, "carrier1", "Rejected", registrar, 403)
    msg = registrar.stop()
    codes = responses(msg)
    assert 401 in codes and 403 in codes and 200 not in codes, codes
    assert status == "Rejected", status


@pytest.mark.parametrize("trunk,transport", [("carrier1", "u1"), ("carrier2", "t1")])
def test_registration_with_digest(host, trunk, transport):
    ip, port = _host_port(trunk)
    registrar = sipp_peer(host, "uas_register.xml", ip, port, transport=transport, calls=5,
                          extra=f"-key reguser {CARRIERS[trunk]['username']} -key regpass {CARRIERS[trunk]['password']}")
    cli(host, f"pjsip send register {trunk}-reg")
    status = wait_registration(host, trunk, "Registered", registrar, 200)
    msg = registrar.stop()
    codes = responses(msg)
    assert status == "Registered", (status, codes)
    # The first REGISTER was challenged, the authenticated one accepted by verifyauth.
    assert 401 in codes and 200 in codes and codes.index(401) < codes.index(200), codes
    assert 403 not in codes, codes
    assert re.search(rf"^Via: SIP/2\.0/{'TCP' if transport == 't1' else 'UDP'} ", msg, re.M), msg[:2000]


def test_options_over_tcp_answered(host):
    result = uac(host, "--transport tcp --port 5060 --local-ip 127.0.0.5 --method OPTIONS")
    assert result.get("final") == 200, result


def _assert_srtp_media(media):
    """The sender plays G.711 (80 bytes per 10 ms; the lab pcap sends 30 ms packets). SRTP adds
    the 10-byte HMAC-SHA1-80 tag after the payload: 12 + 240 + 10 = 262 bytes, plain RTP 252."""
    assert media["packets"] >= 20, media
    size, count = collections.Counter({int(k): v for k, v in media["sizes"].items()}).most_common(1)[0]
    assert (size - 12 - 10) % 80 == 0 and count >= 0.9 * media["packets"], media


def test_carrier_over_tcp_did_reaches_vapi_over_tls_with_srtp(host):
    """carrier2 (TCP) -> DID -> Vapi trunk over TLS with an SDES offer; SRTP flows to Vapi."""
    vapi = TlsUas(host)
    rc, msg = uac_sipp(host, "uac_pcma.xml", "127.0.0.5", 5093, "127.0.0.1:5060", DID, transport="t1", extra="-d 3000")
    result = vapi.result()
    assert rc == 0 and 200 in responses(msg), msg[-2000:]
    assert "error" not in result, result
    assert result["tls_version"] in ("TLSv1.2", "TLSv1.3"), result
    assert result["requests"][:1] == ["INVITE"] and "ACK" in result["requests"] and "BYE" in result["requests"], result
    assert re.match(rf"sips?:\{DID}@127\.0\.0\.2:5071", result["invite_uri"]), result
    offer = result["offer_sdp"]
    assert re.search(r"^m=audio \d+ RTP/SAVP ", offer, re.M), offer
    assert re.search(r"^a=crypto:\d+ AES_CM_128_HMAC_SHA1_(80|32) inline:", offer, re.M), offer
    _assert_srtp_media(result["media"])
    log = host.file("/var/log/asterisk/messages").content_string
    assert re.search(rf"BYOM-CALL endpoint=carrier2 from=5550100 to=\{DID} cause=16 dialstatus=ANSWER", log)


def test_sdes_call_over_tls_reaches_the_carrier(host):
    assert registration_status(host, "carrier1") == "Registered", "registration tests must run first"
    ip, port = _host_port("carrier1")
    carrier = sipp_peer(host, "uas_pcma_play.xml", ip, port, calls=1)
    result = uac(host, f"--to {NATIONAL} --user {VAPI_USER} --srtp --hold 3", password=VAPI_PASS)
    carrier_msg = carrier.stop(wait=5)
    assert "error" not in result, result
    assert result["tls_version"] in ("TLSv1.2", "TLSv1.3"), result
    assert _finals(result)[0] == 401 and result["final"] == 200, result
    sdp = result["answer_sdp"]
    assert re.search(r"^m=audio \d+ RTP/SAVP ", sdp, re.M), sdp
    assert re.search(r"^a=crypto:\d+ AES_CM_128_HMAC_SHA1_(80|32) inline:[A-Za-z0-9+/=]{40}", sdp, re.M), sdp
    assert result["bye"] == 200, result
    assert requests(carrier_msg, "INVITE") == 1, carrier_msg[:2000]
    assert re.search(rf"^INVITE sip:\{NATIONAL}@{re.escape(ip)}:{port}", carrier_msg, re.M)
    assert requests(carrier_msg, "BYE") == 1, "clean BYE towards the carrier"
    _assert_srtp_media(result["media"])
    assert set(result["media"]["payload_types"]) <= {"0", "8"}, result["media"]


@pytest.mark.parametrize("case,args,password,expected", [
    ("plain RTP offer", f"--to {NATIONAL} --user {VAPI_USER} --hold 0", VAPI_PASS, (488,)),
    ("wrong digest", f"--to {NATIONAL} --user {VAPI_USER} --srtp --hold 0", "wrong-password-123", (401, 403)),
])
def test_refused_over_tls_without_reaching_the_carrier(host, case, args, password, expected):
    ip, port = _host_port("carrier1")
    carrier = sipp_peer(host, "uas_pcma_play.xml", ip, port, calls=1, timeout=30)
    result = uac(host, args, password=password)
    carrier_msg = carrier.stop()
    assert "error" not in result, (case, result)
    assert _finals(result)[0] == 401, (case, result)
    assert result["final"] in expected, (case, result)
    assert requests(carrier_msg, "INVITE") == 0, (case, carrier_msg[:2000])
