"""The daemon's command line (bad input -> a clear message naming the file, no traceback; a live pid file refuses
a second start) and the config -> settings mapping, which need no lab topology.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from netns_lab.daemons import instance_block, keepalived_conf, run_daemon_cli


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    cp = run_daemon_cli("-f", str(tmp_path / "nope.conf"), run_dir=tmp_path)
    assert cp.returncode != 0
    assert "nope.conf" in cp.stderr and "Traceback" not in cp.stderr


def test_unusable_instance_names_file_and_line(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    # (not on lo: keepalived ignores such an instance before anything else is checked)
    conf.write_text("vrrp_instance VI_1 {\n  interface eth0\n  priority 100\n"
                    "  virtual_ipaddress {\n    10.9.9.9/32\n  }\n}\n")
    cp = run_daemon_cli("-f", str(conf), run_dir=tmp_path)
    assert cp.returncode == 4, cp.stderr
    assert f"{conf}:1" in cp.stderr and "virtual_router_id" in cp.stderr, cp.stderr
    assert "Traceback" not in cp.stderr


def test_bad_flag_is_a_usage_error(tmp_path: Path) -> None:
    cp = run_daemon_cli("--no-such-flag", run_dir=tmp_path)
    assert cp.returncode == 1 and "Traceback" not in cp.stderr and "usage" in cp.stderr.lower()


@pytest.mark.lab
def test_pid_file_of_a_live_daemon_refuses_start(tmp_path: Path) -> None:
    (tmp_path / "m.pid").write_text(f"{os.getpid()}\n")  # this test process is alive
    conf = tmp_path / "k.conf"
    # eth0 does not exist in the test's netns: the pid file is checked before any interface is touched
    # (an instance on lo would be ignored, leaving nothing to run)
    conf.write_text(keepalived_conf(instance_block(interface="eth0")))
    cp = run_daemon_cli("-f", str(conf), run_dir=tmp_path)
    assert cp.returncode == 1 and "already running" in cp.stderr, cp.stderr
    assert (tmp_path / "m.pid").read_text().strip() == str(os.getpid())  # not ours: left alone


# ------------------------------------------------------------------ config -> settings mapping (pure)


def _settings(tmp_path: Path, text: str) -> Any:
    from pykeepalived.config import HostView, load_config
    from pykeepalived.daemon.settings import build_settings

    conf = tmp_path / "k.conf"
    conf.write_text(text)
    return build_settings(load_config(str(conf), host=HostView(interfaces=None)).config)


def test_settings_map_keepalived_keywords_to_router_and_io(tmp_path: Path) -> None:
    s = _settings(tmp_path, keepalived_conf(
        "vrrp_script chk {\n  script \"/bin/true\"\n  weight -30\n}\n",
        instance_block(priority=120, advert_int=0.25, vips=("10.0.0.100/24 dev eth0 label eth0:1",),
                       extra="  nopreempt\n  use_vmac\n  track_script {\n    chk\n  }\n"
                             "  unicast_src_ip 10.0.0.11\n  unicast_peer {\n    10.0.0.12\n  }\n"),
    ))
    (inst,) = s.instances
    assert (inst.interface, inst.parent_interface, inst.advert_int_cs, inst.preempt) == ("vrrp.51", "eth0", 25, False)
    assert [str(v.address) for v in inst.vips] == ["10.0.0.100/24"] and inst.vips[0].label == "eth0:1"
    assert inst.vips[0].dev == "vrrp.51"  # keepalived moves VIPs of the parent interface to the VMAC
    assert [str(p) for p in inst.unicast_peers] == ["10.0.0.12"] and str(inst.src_ip) == "10.0.0.11"
    trackers = {t.name: t for t in inst.trackers}
    assert trackers["interface eth0"].weight == 0  # the instance's own interface: down is FAULT
    assert trackers["script chk"].weight == -30
    cfg = inst.router_config(inst.src_ip)
    assert (cfg.vrid, cfg.priority, cfg.version, cfg.advert_int_cs) == (51, 120, 3, 25)


def test_settings_error_names_file_and_line(tmp_path: Path) -> None:
    from pykeepalived.daemon.settings import SettingsError

    with pytest.raises(SettingsError, match=r"k\.conf:\d+: .*track_script nope: no such vrrp_script"):
        _settings(tmp_path, keepalived_conf(instance_block(extra="  track_script {\n    nope\n  }\n")))
    with pytest.raises(SettingsError, match=r"k\.conf:\d+: vrrp_instance VI_1: .*mixes IPv4 and IPv6"):
        _settings(tmp_path, keepalived_conf(instance_block(vips=("10.0.0.100/24", "fd00::100/64"))))


def test_settings_old_unicast_checksum_and_nodad(tmp_path: Path) -> None:
    from pykeepalived.daemon.settings import SettingsError

    s = _settings(tmp_path, keepalived_conf(
        instance_block("V6", vrid=52, vips=("fd00::100/64", "fd00::101/64 -nodad")),
        instance_block(extra="  old_unicast_checksum\n"),
        instance_block("VI_N", vrid=53, vips=("10.0.0.101/24",), extra="  old_unicast_checksum never\n"),
    ))
    v6, v1, vn = s.instances
    assert [v.nodad for v in v6.vips] == [True, False]  # keepalived: no DAD for VIPs unless "-nodad"
    assert (v6.old_unicast_checksum, v1.old_unicast_checksum, vn.old_unicast_checksum) == ("auto", "always", "never")
    with pytest.raises(SettingsError, match=r"k\.conf:\d+: vrrp_instance VI_1: old_unicast_checksum takes no value"):
        _settings(tmp_path, keepalived_conf(instance_block(extra="  old_unicast_checksum sometimes\n")))
