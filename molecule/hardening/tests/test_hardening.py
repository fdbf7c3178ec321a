"""byom.telephony.hardening on Debian 11/12/sid: declared state, then behaviour seen from a
second container (byom-mol-hardening-client) on the scenario's docker network.

The client's own address is an allowed SIP peer (vars/main.yml); its second address, added by
prepare.yml, is allowed nowhere but the RTP range (the "outsider"). Probes are single UDP
datagrams with a bounded wait; the responder in the VPS exits by itself (timeout)."""

import subprocess
import time

import pytest

CLIENT = "byom-mol-hardening-client"
COMMENT = "byom-managed"
SIP_PORT = 5060
RTP_RANGE = "10000:20000"
RTP_PROBE_PORT = 10002
EXTRA_CARRIER = "192.0.2.10"
VAPI_LAB = "127.0.0.2"
MAXRETRY = 3

RESPONDER = r"""
import select, socket, sys
socks = []
for port in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    socks.append(s)
while True:
    for s in select.select(socks, [], [], 5)[0]:
        data, peer = s.recvfrom(4096)
        s.sendto(b"SIP/2.0 200 OK\r\nX-Byom-Responder: " + str(s.getsockname()[1]).encode() + b"\r\n\r\n", peer)
"""

PROBE = r"""
import socket, sys
src, sport, dst, dport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((src, sport))
s.settimeout(1.0)
msg = ("OPTIONS sip:probe@%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-byom\r\n"
       "From: <sip:probe@%s>;tag=1\r\nTo: <sip:probe@%s>\r\nCall-ID: byom-probe\r\nCSeq: 1 OPTIONS\r\n"
       "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n") % (dst, dport, src, sport, src, dst)
for _ in range(3):
    s.sendto(msg.encode(), (dst, dport))
    try:
        data, _ = s.recvfrom(4096)
        print("ANSWER " + data.decode(errors="replace").splitlines()[0])
        break
    except socket.timeout:
        continue
else:
    print("TIMEOUT")
"""


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=check)


def container_ip(name):
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name).stdout.strip()


def client_addresses():
    out = docker("exec", CLIENT, "ip", "-4", "-o", "address", "show", "dev", "eth0").stdout
    addrs = [line.split()[3].split("/")[0] for line in out.splitlines() if " inet " in line]
    primary = container_ip(CLIENT)
    outsider = [a for a in addrs if a != primary]
    assert outsider, "prepare.yml should have given the client a second address, got %s" % addrs
    return primary, outsider[0]


def probe(src, dst, dport, sport=0):
    out = docker("exec", CLIENT, "python3", "-c", PROBE, src, str(sport), dst, str(dport)).stdout.strip()
    assert out.startswith(("ANSWER", "TIMEOUT")), out
    return out


def ufw_rules(host):
    """(to, action, from, comment) for each line of `ufw status`."""
    out = host.check_output("ufw status")
    lines = out.splitlines()
    rules = []
    for line in lines[lines.index(next(x for x in lines if x.startswith("--"))) + 1:]:
        if not line.strip():
            continue
        body, _sep, comment = line.partition("#")
        cols = [c.strip() for c in body.split("  ") if c.strip()]
        rules.append((cols[0], cols[1], cols[2], comment.strip()))
    return rules


@pytest.fixture(scope="module")
def vps_ip(host):
    return container_ip(host.backend.get_hostname())


@pytest.fixture(scope="module")
def responder(host):
    name = host.backend.get_hostname()
    # Bounded lifetime: gone after 300 s even if the test run is interrupted.
    docker("exec", "-d", name, "timeout", "300", "python3", "-c", RESPONDER, str(SIP_PORT), str(RTP_PROBE_PORT))
    for _attempt in range(50):
        if ":%d " % RTP_PROBE_PORT in host.check_output("ss -lun"):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the UDP responder did not start")
    yield
    docker("exec", name, "pkill", "-f", "X-Byom-Responder", check=False)


def test_ufw_active_with_default_deny(host):
    out = host.check_output("ufw status verbose")
    assert "Status: active" in out
    assert "Default: deny (incoming), allow (outgoing), deny (routed)" in out
    assert host.file("/etc/default/ufw").contains("^IPV6=yes")


def test_ufw_holds_exactly_the_declared_rules(host):
    client_ip, _outsider = client_addresses()
    expected = {
        ("22/tcp", "ALLOW", "Anywhere"),
        ("22/tcp (v6)", "ALLOW", "Anywhere (v6)"),
        ("%d/udp" % SIP_PORT, "ALLOW", VAPI_LAB),
        ("%d/udp" % SIP_PORT, "ALLOW", client_ip),
        ("%d/udp" % SIP_PORT, "ALLOW", EXTRA_CARRIER),
        ("%s/udp" % RTP_RANGE, "ALLOW", "Anywhere"),
        ("%s/udp (v6)" % RTP_RANGE, "ALLOW", "Anywhere (v6)"),
    }
    rules = ufw_rules(host)
    assert sorted(r[:3] for r in rules) == sorted(expected)
    assert all(r[3] == COMMENT for r in rules)


def test_fail2ban_runs_both_jails(host):
    assert host.service("fail2ban").is_running
    assert host.service("fail2ban").is_enabled
    status = host.check_output("fail2ban-client status")
    assert "Jail list:\tasterisk, sshd" in status
    logpaths = host.check_output("fail2ban-client get asterisk logpath")
    assert "/var/log/asterisk/security" in logpaths
    assert "/var/log/asterisk/messages" in logpaths
    for jail in ("asterisk", "sshd"):
        assert host.check_output("fail2ban-client get %s maxretry" % jail).strip() == str(MAXRETRY)
    for log in ("/var/log/asterisk/security", "/var/log/asterisk/messages"):
        assert host.file(log).mode == 0o640


def test_sshd_jail_uses_the_journal_where_syslog_is_absent(host):
    # The role picks systemd on Debian >= 12 and wherever no syslog daemon writes auth.log
    # (true of all three lab images, which have no rsyslog).
    assert not host.file("/var/log/auth.log").exists
    assert "_SYSTEMD_UNIT" in host.check_output("fail2ban-client get sshd journalmatch")
    assert host.package("python3-systemd").is_installed


def test_rtp_sysctls_are_written_with_a_reason(host):
    conf = host.file("/etc/sysctl.d/60-byom-telephony.conf")
    assert conf.mode == 0o644
    text = conf.content_string
    for key in ("net.core.rmem_max", "net.core.wmem_max", "net.core.netdev_max_backlog", "net.netfilter.nf_conntrack_max"):
        line = next(x for x in text.splitlines() if x.startswith(key + " = "))
        reason = text.splitlines()[text.splitlines().index(line) - 1]
        assert reason.startswith("# ") and len(reason) > 20, reason


def test_unattended_upgrades_take_security_updates_only(host):
    assert host.package("unattended-upgrades").is_installed
    conf = host.file("/etc/apt/apt.conf.d/52byom-unattended-upgrades").content_string
    assert "#clear Unattended-Upgrade::Origins-Pattern;" in conf
    patterns = [x.strip() for x in conf.splitlines() if x.strip().startswith('"origin=')]
    assert patterns and all("-security" in p for p in patterns)
    dump = host.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    assert "label=Debian\";" not in dump


def test_sip_from_an_allowed_peer_is_answered(host, vps_ip, responder):
    client_ip, _outsider = client_addresses()
    assert probe(client_ip, vps_ip, SIP_PORT).startswith("ANSWER SIP/2.0 200")


def test_sip_from_an_outsider_gets_no_answer_but_rtp_does(host, vps_ip, responder):
    _client, outsider = client_addresses()
    assert probe(outsider, vps_ip, SIP_PORT) == "TIMEOUT"
    # Same source, RTP range open to any: proves the outsider address itself is reachable.
    assert probe(outsider, vps_ip, RTP_PROBE_PORT).startswith("ANSWER")


def test_repeated_auth_failures_ban_every_packet_of_the_source(host, vps_ip, responder):
    client_ip, _outsider = client_addresses()
    sport = 45060
    # A live flow first: conntrack now tracks it, as it would a flooder's.
    assert probe(client_ip, vps_ip, SIP_PORT, sport).startswith("ANSWER")
    assert probe(client_ip, vps_ip, RTP_PROBE_PORT, sport + 2).startswith("ANSWER")
    # The VPS images have no tzdata: their clock reads UTC, as does this one. One failure per
    # second, as a real brute-forcer produces them (fail2ban counts one failure per timestamp).
    lines = ""
    for age in range(MAXRETRY + 1, 0, -1):
        then = time.gmtime(time.time() - age)
        lines += (
            '[{stamp}] SECURITY[1234] res_security_log.c: SecurityEvent="ChallengeResponseFailed",'
            'EventTV="{tv}",Severity="Error",Service="PJSIP",EventVersion="1",'
            'AccountID="<unknown>",SessionID="byom-test-{age}",LocalAddress="IPV4/UDP/{vps}/{port}",'
            'RemoteAddress="IPV4/UDP/{ip}/{sport}",Challenge="1764530000/0a1b",Response="0123abcd",ExpectedResponse=""\n'
        ).format(stamp=time.strftime("%b %e %H:%M:%S", then), tv=time.strftime("%Y-%m-%dT%H:%M:%S.000000+0000", then),
                 age=age, vps=vps_ip, port=SIP_PORT, ip=client_ip, sport=sport)
    try:
        subprocess.run(["docker", "exec", "-i", host.backend.get_hostname(), "sh", "-c", "cat >> /var/log/asterisk/security"],
                       input=lines, text=True, timeout=30, check=True)
        for _attempt in range(30):
            banned = host.check_output("fail2ban-client status asterisk")
            if client_ip in banned:
                break
            time.sleep(1)
        else:
            pytest.fail("fail2ban did not ban %s: %s" % (client_ip, banned))
        chain = host.check_output("iptables -S f2b-asterisk")
        assert "-A f2b-asterisk -s %s/32 -j DROP" % client_ip in chain
        # Ahead of UFW's ESTABLISHED,RELATED accept, for every protocol.
        assert host.check_output("iptables -S INPUT").splitlines()[1] == "-A INPUT -j f2b-asterisk"
        assert probe(client_ip, vps_ip, SIP_PORT, sport) == "TIMEOUT"
        assert probe(client_ip, vps_ip, RTP_PROBE_PORT, sport + 2) == "TIMEOUT"
    finally:
        host.run("fail2ban-client set asterisk unbanip %s" % client_ip)
    assert probe(client_ip, vps_ip, SIP_PORT, sport).startswith("ANSWER")
