"""Asterisk 22 (Debian sid package) as the Vapi SIP edge, exercised with SIPp on loopback."""
import ipaddress
import re
import time

import pytest

from sipp_lab import (VAPI_PASS, VAPI_USER, Uas, assert_options_ping, cli, default_network, invites_received,
                      local_nets, poll, responses, transport_fields, uac, wait_background)

DID = "+15551230001"
NATIONAL = "+12125550123"
AUTH = f"-au {VAPI_USER} -ap {VAPI_PASS}"
PUBLIC_IP = "203.0.113.10"  # telephony_public_ipv4 in vars/lab.yml, on none of the container's interfaces
VAPI_CONTACT = re.compile(r"^\s*Contact:\s+vapi/sip:127\.0\.0\.2:5070\S*\s+\S+\s+(\S+)", re.M)


def _channelstats(host):
    """{channel prefix: (rx count, tx count)} from `pjsip show channelstats`."""
    stats = {}
    for line in cli(host, "pjsip show channelstats").splitlines():
        m = re.match(r"\s*\S+\s+(\S+)-[0-9a-f]+\s+\S+\s+\S+\s+(\d+)\s+\d+\s+\d+\s+\S+\s+(\d+)", line)
        if m:
            stats[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return stats


def _media_both_ways(stats, legs=("carrier1", "vapi"), packets=50):
    return all(stats.get(leg, (0, 0))[0] > packets and stats.get(leg, (0, 0))[1] > packets for leg in legs)


def test_versions_and_modules(host):
    assert re.search(r"Asterisk 22\.", cli(host, "core show version"))
    assert re.search(r"res_pjsip\.so\s.*Running", cli(host, "module show like res_pjsip.so"))


def test_7_chan_sip_not_loaded(host):
    assert re.search(r"^0 modules loaded", cli(host, "module show like chan_sip"), re.M)
    assert "noload => chan_sip.so" in host.file("/etc/asterisk/modules.conf").content_string


def test_secret_files_are_not_world_readable(host):
    for name in ("pjsip.conf", "extensions.conf"):
        f = host.file(f"/etc/asterisk/{name}")
        assert f.mode == 0o640, name
        assert f.group == "asterisk"
    assert VAPI_PASS not in host.run("ls -l /etc/asterisk; ps axww").stdout


def test_default_context_is_empty_and_no_anonymous(host):
    out = cli(host, "dialplan show default")
    assert "created by 'pbx_config'" in out
    assert not re.search(r"^\s+'", out, re.M), out
    assert "anonymous" not in cli(host, "pjsip show endpoints")
    assert re.search(r"^0 modules loaded", cli(host, "module show like res_pjsip_endpoint_identifier_anonymous"), re.M)


def test_listens_only_where_intended(host):
    listening = host.run("ss -Hlnptu").stdout
    assert re.search(r"0\.0\.0\.0:5060\b", listening)
    for port in (5038, 8088, 4569, 2000):
        assert not re.search(rf":{port}\b.*asterisk", listening), port


def test_open_files_limit(host):
    pid = host.check_output("pidof asterisk").split()[0]
    limits = host.check_output(f"cat /proc/{pid}/limits")
    assert re.search(r"Max open files\s+16384\s", limits), limits


def test_call_records_are_off_by_default(host):
    # A CSV line per call costs throughput and leaks phone numbers (the packaged file is 0644).
    assert re.search(r"Logging:\s+Disabled", cli(host, "cdr show status"))
    assert "enable=no" in host.file("/etc/asterisk/cdr.conf").content_string


def test_nat_detected_from_the_public_ipv4(host):
    """telephony_public_ipv4 is not on an interface: 1:1 NAT, the transport advertises it."""
    assert PUBLIC_IP not in host.check_output("ip -4 -o addr show"), "the lab IP must not be local"
    fields = transport_fields(host, "transport-udp")
    assert fields.get("external_media_address") == [PUBLIC_IP], fields
    assert fields.get("external_signaling_address") == [PUBLIC_IP], fields
    nets = local_nets(fields)
    # The container's own network and loopback stay un-rewritten (the lab peers are on 127/8).
    assert default_network(host) in nets, (default_network(host), nets)
    assert ipaddress.ip_network("127.0.0.0/8") in nets, nets


def test_qualify_is_off_towards_vapi(host):
    """asterisk_vapi_qualify_frequency default 0: no OPTIONS, the contact is never Unavail."""
    aor = cli(host, "pjsip show aor vapi")
    assert re.search(r"^\s*qualify_frequency\s*:\s*0\s*$", aor, re.M), aor
    contact = VAPI_CONTACT.search(aor)
    assert contact, f"the lab contact is missing: {aor}"
    assert contact.group(1) != "Unavail", aor


def test_vapi_options_ping_gets_200_and_everything_else_stays_challenged(host):
    """Pool mode: Vapi marks a gateway down unless its OPTIONS ping gets 200. From Vapi's address
    OPTIONS get 200 without a digest, INVITE/REGISTER/MESSAGE/SUBSCRIBE still get 401; from
    anywhere else OPTIONS get 401 and an InvalidAccountID line (fail2ban's)."""
    assert_options_ping(host)


def test_1_carrier_did_reaches_vapi_with_two_way_rtp(host):
    # This UAS never answers OPTIONS (see test_qualify_on_with_a_silent_vapi_refuses_calls):
    # with qualify off the call is placed all the same.
    vapi = Uas(host, "127.0.0.2", 5070, calls=1, echo=True)
    name = uac(host, "uac_pcma.xml", "127.0.0.3", 5081, DID, extra="-d 6000", background=True)
    # Poll (bounded) while the 6 s call is up, until both legs carry media both ways and the
    # bridge is up, instead of reading once at a fixed moment that a slow setup can miss.
    stats, bridges = poll(lambda: (_channelstats(host), cli(host, "bridge show all")),
                          lambda seen: _media_both_ways(seen[0]) and "native_rtp" in seen[1], limit=10)
    rc, msg = wait_background(host, name)
    vapi_msg = vapi.stop(wait=5)
    assert rc == 0, msg
    assert 200 in responses(msg)
    assert invites_received(vapi_msg) == 1
    assert re.search(r"^BYE sip:", vapi_msg, re.M), "clean BYE towards Vapi"
    assert not re.search(r"^OPTIONS sip:", vapi_msg, re.M), "qualify is off: no OPTIONS"
    # Behind the detected NAT, loopback peers still get the local address (127.0.0.0/8 is local_net).
    assert PUBLIC_IP not in vapi_msg, "SIP/SDP towards a local_net peer was rewritten"
    # RTP both ways on both legs: carrier -> Asterisk -> Vapi echo -> Asterisk -> carrier.
    assert _media_both_ways(stats), stats
    # PCMA end to end, no Dial() options: Asterisk bridges RTP natively (performance).
    assert "native_rtp" in bridges, bridges
    log = host.file("/var/log/asterisk/messages").content_string
    assert re.search(rf"BYOM-CALL endpoint=carrier1 from=5550100 to=\{DID} cause=16 dialstatus=ANSWER duration=\d+", log)


def test_2_vapi_with_digest_reaches_carrier(host):
    carrier = Uas(host, "127.0.0.3", 5080, calls=1, echo=True)
    rc, msg = uac(host, "vapi_uac_auth.xml", "127.0.0.2", 5071, NATIONAL, extra=f"{AUTH} -d 2000")
    carrier_msg = carrier.stop(wait=5)
    assert rc == 0, msg
    assert responses(msg)[0] == 401 and 200 in responses(msg)
    assert invites_received(carrier_msg) == 1
    assert re.search(rf"^INVITE sip:\{NATIONAL}@127\.0\.0\.3:5080", carrier_msg, re.M)


@pytest.mark.parametrize("scenario,extra", [
    ("uac_auth_refused.xml", f"-au {VAPI_USER} -ap wrong-password-123"),
    ("uac_auth_refused.xml", "-au someone-else -ap lab-digest-secret-0123"),
    ("uac_noauth_refused.xml", ""),
])
def test_3_vapi_without_valid_digest_is_refused(host, scenario, extra):
    carrier = Uas(host, "127.0.0.3", 5082, calls=1, echo=False, timeout=30)
    rc, msg = uac(host, scenario, "127.0.0.2", 5072, NATIONAL, extra=extra, timeout=20)
    carrier_msg = carrier.stop()
    codes = responses(msg)
    assert rc == 0, msg
    assert codes and codes[-1] in (401, 403), codes
    assert 200 not in codes
    assert invites_received(carrier_msg) == 0


@pytest.mark.parametrize("number", [DID, NATIONAL, "+442071234567", "600"])
def test_4_attacker_is_refused(host, number):
    carrier = Uas(host, "127.0.0.3", 5083, calls=1, echo=False, timeout=30)
    vapi = Uas(host, "127.0.0.2", 5073, calls=1, echo=False, timeout=30)
    rc, msg = uac(host, "uac_auth_refused.xml", "127.0.0.4", 5074, number, extra=AUTH, timeout=20)
    rc2, msg2 = uac(host, "uac_noauth_refused.xml", "127.0.0.4", 5075, number, timeout=20)
    carrier_msg, vapi_msg = carrier.stop(), vapi.stop()
    for code_list in (responses(msg), responses(msg2)):
        assert code_list and code_list[-1] in (401, 403), code_list
        assert 200 not in code_list
    assert rc == 0 and rc2 == 0
    assert invites_received(carrier_msg) == 0
    assert invites_received(vapi_msg) == 0


@pytest.mark.parametrize("number,expected", [
    ("+442071234567", 404),   # international: not in the allowlist
    ("442071234567", 404),    # the same in Vapi's format (no '+')
    ("+19005551234", 403),    # premium: explicitly blocked
    ("19005551234", 403),
    ("+19765551234", 403),
    ("+18765550123", 403),    # Jamaica: +1 but not US/Canada
    ("18765550123", 403),
    ("+18095550123", 403),    # Dominican Republic
    ("12425550123", 403),     # Bahamas, Vapi's format
    ("+12845550123", 403),    # British Virgin Islands
    ("15005550123", 403),     # non-geographic 500
    ("+15255550123", 403),    # non-geographic 52x
    ("17005550123", 403),     # 700
    ("+1abc5551234", 404),    # malformed
    ("2125550123", 404),      # national format without country code
    ("+121255501234", 404),   # too long for the pattern
    ("121255501234", 404),
])
def test_5_vapi_to_forbidden_numbers_is_refused(host, number, expected):
    carrier = Uas(host, "127.0.0.3", 5084, calls=1, echo=False, timeout=30)
    rc, msg = uac(host, "uac_auth_refused.xml", "127.0.0.2", 5076, number, extra=AUTH, timeout=20)
    carrier_msg = carrier.stop()
    codes = responses(msg)
    assert rc == 0, msg
    assert codes[0] == 401 and codes[-1] == expected, codes
    assert invites_received(carrier_msg) == 0


def test_6_concurrency_cap(host):
    """asterisk_vapi_max_calls=2: a third simultaneous call is refused with 503."""
    vapi = Uas(host, "127.0.0.2", 5070, calls=3, echo=True, timeout=40)
    rc, msg = uac(host, "uac_pcma.xml", "127.0.0.3", 5085, DID, extra="-d 4000 -l 3 -r 10", calls=3, timeout=40)
    vapi_msg = vapi.stop()
    codes = responses(msg)
    assert codes.count(503) == 1, codes
    assert invites_received(vapi_msg) == 2
    assert "BYOM-CALL trunk vapi full" in host.file("/var/log/asterisk/messages").content_string


def test_8_broken_option_failed_the_play(host):
    """side_effect.yml applied timers=bogus; the play must have failed with Asterisk's message."""
    text = host.file("/root/byom-broken-option.txt").content_string
    assert "Error parsing timers=bogus" in text
    assert "Could not create an object of type 'endpoint' with id 'vapi'" in text
    # ...and the restore run brought the trunk back.
    assert re.search(r"^\s*Endpoint:\s+vapi\s", cli(host, "pjsip show endpoints"), re.M)


def test_proof_of_load_named_what_no_file_shows(host):
    """side_effect.yml removed a blocked pattern from [from-vapi] and added a catch-all at
    runtime; the role's run failed naming both."""
    text = host.file("/root/byom-proof-of-load.txt").content_string
    assert "lost extension _+449X. in from-vapi" in text, text
    assert "extra extension _X. in from-vapi" in text, text
    # ...and the restore runs left exactly the declared configuration.
    dialplan = cli(host, "dialplan show from-vapi")
    assert "'_+449X.' =>" in dialplan and "'_X.' =>" not in dialplan, dialplan


def test_contactless_trunk_loaded_and_vapi_reached_the_carrier(host):
    """side_effect.yml ran the role with no credential id and no contact URI (site.yml's first
    pass): the AOR had no contact, the proof of load passed, Vapi's call still got through."""
    aor = host.file("/root/byom-contactless-aor.txt").content_string
    assert re.search(r"^\s*Aor:\s+vapi\s", aor, re.M), aor
    assert not re.search(r"^\s*Contact:\s+vapi/", aor, re.M), aor
    conf = host.file("/root/byom-contactless-pjsip.txt").content_string
    assert "type=aor" in conf and not re.search(r"^contact=", conf, re.M), conf
    vapi_msg = host.file("/root/byom-contactless-vapi.msg").content_string
    carrier_msg = host.file("/root/byom-contactless-carrier.msg").content_string
    codes = responses(vapi_msg)
    assert codes and codes[0] == 401 and 200 in codes, codes
    assert invites_received(carrier_msg) == 1
    assert re.search(rf"^INVITE sip:\{NATIONAL}@127\.0\.0\.3:5080", carrier_msg, re.M)
    # ...and the restore run put the contact back.
    assert VAPI_CONTACT.search(cli(host, "pjsip show aor vapi"))


def test_qualify_on_with_a_silent_vapi_refuses_calls(host):
    """Positive control (side_effect.yml): qualify_frequency 2 towards the same SIPp UAS, which
    does not answer OPTIONS, marks Vapi Unavail and the carrier's call never reaches it. This is
    why asterisk_vapi_qualify_frequency defaults to 0."""
    uas_msg = host.file("/root/byom-qualify-vapi.msg").content_string
    assert re.search(r"^OPTIONS sip:", uas_msg, re.M), "Asterisk sent no OPTIONS with qualify on"
    assert not re.search(r"^SIP/2\.0 \d{3}", uas_msg, re.M), "the UAS answered something"
    assert invites_received(uas_msg) == 0
    contacts = host.file("/root/byom-qualify-contacts.txt").content_string
    status = VAPI_CONTACT.search(contacts)
    assert status and status.group(1) == "Unavail", contacts
    codes = responses(host.file("/root/byom-qualify-carrier.msg").content_string)
    assert codes and 200 not in codes, codes


def test_vapi_format_number_reaches_carrier(host):
    """Vapi dials without '+' by default (outboundLeadingPlusEnabled false): the same route takes
    it, and the carrier gets the E.164 number."""
    carrier = Uas(host, "127.0.0.3", 5080, calls=1, echo=True)
    rc, msg = uac(host, "vapi_uac_auth.xml", "127.0.0.2", 5077, NATIONAL[1:], extra=f"{AUTH} -d 1000")
    carrier_msg = carrier.stop(wait=5)
    assert rc == 0, msg
    assert 200 in responses(msg)
    assert invites_received(carrier_msg) == 1
    assert re.search(rf"^INVITE sip:\{NATIONAL}@127\.0\.0\.3:5080", carrier_msg, re.M), carrier_msg[:600]


@pytest.mark.parametrize("peer,port,number,extra", [
    ("127.0.0.2", 5078, NATIONAL, AUTH),          # Vapi, with its digest, to an allowed number
    ("127.0.0.2", 5078, NATIONAL[1:], AUTH),      # ... in Vapi's format
    ("127.0.0.3", 5079, DID, ""),                 # the carrier, to our DID
])
def test_sip_message_never_runs_the_dialplan(host, peer, port, number, extra):
    carrier = Uas(host, "127.0.0.3", 5080, calls=1, echo=False, timeout=30)
    vapi = Uas(host, "127.0.0.2", 5070, calls=1, echo=False, timeout=30)
    rc, msg = uac(host, "message.xml", peer, port, number, extra=extra, timeout=20)
    carrier_msg, vapi_msg = carrier.stop(), vapi.stop()
    codes = responses(msg)
    assert rc == 0, msg
    assert codes and codes[-1] == 404 and 202 not in codes and 200 not in codes, codes
    assert invites_received(carrier_msg) == 0 and invites_received(vapi_msg) == 0
    assert "MESSAGE" not in carrier_msg + vapi_msg


def test_duration_cap_ends_the_leg_and_keeps_the_native_bridge(host):
    """asterisk_vapi_max_call_duration=5: Asterisk hangs up a Vapi -> PSTN call 5 s after answer
    (Dial's S()), while the bridge stays native_rtp."""
    carrier = Uas(host, "127.0.0.3", 5080, calls=1, echo=True, timeout=40)
    started = time.time()
    name = uac(host, "vapi_uac_capped.xml", "127.0.0.2", 5087, NATIONAL, extra=AUTH, timeout=40, background=True)
    # Polled while the capped call is up (at most 5 s after answer).
    bridges = poll(lambda: cli(host, "bridge show all"), lambda seen: "native_rtp" in seen, limit=8)
    rc, msg = wait_background(host, name, limit=40)
    elapsed = time.time() - started
    carrier.stop(wait=5)
    assert rc == 0, msg
    assert re.search(r"^BYE sip:", msg, re.M), "Asterisk sent no BYE"
    assert "native_rtp" in bridges, bridges
    # Answer + 5 s (+ setup and polling slack); the caller itself would have waited 30 s.
    assert 4 < elapsed < 20, elapsed


def test_hourly_budget_refuses_and_logs(host):
    """carrier2 takes max_calls_per_hour=1: the first call reaches it, the second gets 503 and a
    WARNING line naming the trunk."""
    number = "+12135550100"
    before = host.file("/var/log/asterisk/messages").content_string.count("trunk carrier2 hourly budget exhausted")
    carrier2 = Uas(host, "127.0.0.3", 5086, calls=2, echo=True, timeout=40)
    rc1, msg1 = uac(host, "vapi_uac_auth.xml", "127.0.0.2", 5088, number, extra=f"{AUTH} -d 500")
    rc2, msg2 = uac(host, "uac_auth_refused.xml", "127.0.0.2", 5089, number, extra=AUTH, timeout=20)
    carrier_msg = carrier2.stop()
    assert rc1 == 0 and 200 in responses(msg1), msg1
    assert rc2 == 0 and responses(msg2)[-1] == 503, responses(msg2)
    assert invites_received(carrier_msg) == 1
    after = host.file("/var/log/asterisk/messages").content_string.count("trunk carrier2 hourly budget exhausted")
    assert after == before + 1
