"""Source-built Asterisk on Debian 12: the build that was asked for, running under systemd."""

import json
import os
import re

import pytest

testinfra_hosts = ["all"]

STAMP = "/usr/lib/asterisk/source-build.stamp"
MODULES = "/usr/lib/asterisk/modules"
# Same value as asterisk_limit_nofile in vars.yml (the container's hard limit is 20000).
LIMIT_NOFILE = 16384


def _stamp(host):
    fields = dict(item.split("=", 1) for item in host.file(STAMP).content_string.split())
    return fields


def _manifest():
    """What scripts/asterisk-source-tarball.sh produced on the controller for this run."""
    cache = os.environ.get("BYOM_ASTERISK_SOURCE_CACHE", "/var/tmp/byom-asterisk-source")
    with open(os.path.join(cache, "asterisk-source.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _cli(host, command):
    return host.check_output("asterisk -rx %s", command)


def test_stamp_records_the_pinned_tarball(host):
    manifest = _manifest()
    stamp = _stamp(host)
    assert stamp["version"] == manifest["version"]
    # The tarball's digest, whatever form asterisk_source_checksum took (the converge used the
    # checksum-file URL): the form is not recorded, so changing it rebuilds nothing.
    assert stamp["sha256"] == manifest["sha256"]
    assert "checksum" not in stamp
    assert "chan_sip" in stamp["disable"].split(",")


def test_binary_is_the_built_release(host):
    manifest = _manifest()
    out = host.check_output("/usr/sbin/asterisk -V")
    assert out.strip() == "Asterisk " + manifest["version"]
    assert manifest["version"].startswith("22.")


def test_asterisk_runs_from_the_role_unit(host):
    service = host.service("asterisk")
    assert service.is_enabled
    assert service.is_running
    unit = host.file("/etc/systemd/system/asterisk.service").content_string
    assert "LimitNOFILE=%d" % LIMIT_NOFILE in unit


def test_running_process_has_the_fd_limit_and_user(host):
    pid = host.check_output("systemctl show -p MainPID --value asterisk").strip()
    assert pid not in ("", "0")
    limits = host.file("/proc/%s/limits" % pid).content_string
    match = re.search(r"^Max open files\s+(\d+)\s+(\d+)", limits, re.M)
    assert match, limits
    assert int(match.group(1)) == LIMIT_NOFILE
    assert host.check_output("ps -o user= -p %s", pid).strip() == "asterisk"


def test_runtime_directories_belong_to_asterisk(host):
    for path in ("/var/lib/asterisk", "/var/spool/asterisk", "/var/log/asterisk", "/run/asterisk"):
        assert host.file(path).is_directory, path
        assert host.file(path).user == "asterisk", path


def test_res_pjsip_loaded(host):
    out = _cli(host, "module show like res_pjsip.so")
    assert re.search(r"^1 modules loaded", out, re.M), out
    assert host.file(MODULES + "/chan_pjsip.so").exists


def test_chan_sip_not_built_and_not_loaded(host):
    assert not host.file(MODULES + "/chan_sip.so").exists
    out = _cli(host, "module show like chan_sip")
    assert re.search(r"^0 modules loaded", out, re.M), out


@pytest.mark.parametrize("module", ["app_dial", "app_stack", "func_groupcount", "func_strings",
                                    "res_rtp_asterisk", "codec_ulaw", "codec_alaw", "pbx_config",
                                    "res_security_log", "res_srtp"])
def test_required_modules_built(host, module):
    assert host.file("%s/%s.so" % (MODULES, module)).exists


@pytest.mark.parametrize("module", ["app_voicemail", "app_queue", "chan_iax2", "app_confbridge",
                                    "res_pjsip_endpoint_identifier_anonymous", "res_agi"])
def test_unneeded_modules_not_built(host, module):
    assert not host.file("%s/%s.so" % (MODULES, module)).exists


def test_no_sample_configs_installed(host):
    # `make samples` is not run: every file in /etc/asterisk comes from the role's templates.
    assert not host.file("/etc/asterisk/voicemail.conf").exists
    assert not host.file("/etc/asterisk/iax.conf").exists


def test_udp_transport_from_the_role_config(host):
    out = _cli(host, "pjsip show transports")
    assert re.search(r"Transport:\s+\S+\s+udp\s", out), out
