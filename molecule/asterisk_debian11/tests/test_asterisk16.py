"""Asterisk 16 (Debian 11 package): chan_sip is installed but never loaded; PJSIP carries calls."""
import re
import time

from sipp_lab import (Uas, assert_options_ping, cli, default_network, invites_received, local_nets, responses,
                      transport_fields, uac, wait_background)

DID = "+15551230001"


def test_running_16(host):
    assert re.search(r"Asterisk 16\.", cli(host, "core show version"))


def test_chan_sip_present_but_not_loaded(host):
    module = host.run("ls /usr/lib/asterisk/modules/chan_sip.so /usr/lib/*/asterisk/modules/chan_sip.so 2>/dev/null")
    assert "chan_sip.so" in module.stdout, "Debian 11 ships chan_sip: the test must see the file"
    assert re.search(r"^0 modules loaded", cli(host, "module show like chan_sip"), re.M)


def test_pjsip_objects_loaded(host):
    endpoints = cli(host, "pjsip show endpoints")
    for name in ("vapi", "carrier1"):
        assert re.search(rf"^\s*Endpoint:\s+{name}\s", endpoints, re.M), endpoints
    assert re.search(r"^\s*Auth:\s+vapi-inbound/", cli(host, "pjsip show auths"), re.M)
    assert re.search(r"^\s*Identify:\s+vapi/vapi", cli(host, "pjsip show identifies"), re.M)


def test_no_nat_when_the_public_ipv4_is_on_the_interface(host):
    """converge.yml sets asterisk_public_ipv4 to the container's own address: no NAT lines."""
    fields = transport_fields(host, "transport-udp")
    assert "external_media_address" in fields, fields  # the option is shown, empty
    assert fields["external_media_address"] in ([""], []), fields
    assert fields.get("external_signaling_address", [""]) == [""], fields
    assert default_network(host) not in local_nets(fields), fields
    assert "external_media_address" not in host.file("/etc/asterisk/pjsip_transports.conf").content_string


def test_vapi_options_ping_gets_200_and_everything_else_stays_challenged(host):
    """The same on 16.28 (allow_unauthenticated_options exists since 16.18): Vapi's OPTIONS 200
    without a digest, every other method from Vapi 401, OPTIONS from elsewhere 401 + counted."""
    assert_options_ping(host)


def test_carrier_call_reaches_vapi(host):
    vapi = Uas(host, "127.0.0.2", 5070, calls=1, echo=True)
    name = uac(host, "uac_pcma.xml", "127.0.0.3", 5081, DID, extra="-d 5000", background=True)
    # The call lasts 5 s once answered; under load it can take a while to be set up, so poll for
    # the carrier leg's media instead of reading once at a fixed moment.
    stats = ""
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        time.sleep(1)
        stats = cli(host, "pjsip show channelstats")
        if re.search(r"carrier1-\S+\s+\S+\s+alaw\s+[1-9]\d+", stats):
            break
    rc, msg = wait_background(host, name)
    vapi_msg = vapi.stop(wait=5)
    assert rc == 0, msg
    assert 200 in responses(msg)
    assert invites_received(vapi_msg) == 1
    assert re.search(r"carrier1-\S+\s+\S+\s+alaw\s+[1-9]\d+", stats), stats
    assert re.search(rf"BYOM-CALL endpoint=carrier1 .*to=\{DID} cause=16",
                     host.file("/var/log/asterisk/messages").content_string)
