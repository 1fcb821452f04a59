"""The VRRP process's composition (pykeepalived.daemon.vrrp_main): the reload source names file:line for a
broken configuration and keeps the running one; the dump hook writes keepalived's three files (mode 0600) from
the running daemon; transitions feed the released-master count and the e-mail alerts."""

from __future__ import annotations

import stat
from ipaddress import IPv4Address
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pykeepalived.config import load_config
from pykeepalived.daemon.dumps import data_instances, parse_data, parse_json, parse_stats
from pykeepalived.daemon.settings import build_settings
from pykeepalived.daemon.vrrp_main import VrrpProcess
from vrrp.core.router import VirtualRouter
from vrrp.core.state import State
from vrrp.io.driver import Instance, ReloadError, VrrpDaemon

CONF = ("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n"
        " virtual_ipaddress {\n  10.0.0.100/24\n }\n}\n")


def process(tmp_path: Path, text: str = CONF) -> VrrpProcess:
    f = tmp_path / "keepalived.conf"
    f.write_text(text)
    return VrrpProcess(str(f), load_config(str(f)).config)


def test_reload_source_names_file_and_line_and_keeps_the_old_config(tmp_path: Path) -> None:
    p = process(tmp_path)
    old = p.config
    (tmp_path / "keepalived.conf").write_text(CONF.replace("virtual_router_id 51", "virtual_router_id 999"))
    with pytest.raises(ReloadError, match=rf"{tmp_path}/keepalived.conf:3: .*virtual_router_id"):
        p.load()
    assert p.config is old
    (tmp_path / "keepalived.conf").write_text(CONF.replace("priority 100", "priority 120"))
    assert p.load().instances[0].priority == 120 and p.config is not old


def test_dump_hook_writes_keepalived_files(tmp_path: Path) -> None:
    p = process(tmp_path)
    settings = build_settings(p.config)
    daemon = VrrpDaemon(settings, dump_dir=tmp_path, hooks=p.hooks())
    s = settings.instances[0]
    router = VirtualRouter(s.router_config(IPv4Address("10.0.0.2")))
    router.start(0)
    fake: Any = SimpleNamespace()
    daemon.instances.append(Instance(s, router, fake, fake, IPv4Address("10.0.0.2"), bytes(6)))
    for kind in ("data", "stats", "json"):
        assert daemon.hooks.dump is not None
        daemon.hooks.dump(kind, daemon)
    assert data_instances(parse_data((tmp_path / "keepalived.data").read_text()))["VI_1"]["State"] == "BACKUP"
    assert "VI_1" in parse_stats((tmp_path / "keepalived.stats").read_text())
    assert parse_json((tmp_path / "keepalived.json").read_text())[0]["data"]["iname"] == "VI_1"
    for name in ("keepalived.data", "keepalived.stats", "keepalived.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    p.state_changed("VI_1", State.MASTER, State.BACKUP)
    assert p.released["VI_1"] == 1
    daemon.hooks.dump("stats_clear", daemon)
    assert p.released["VI_1"] == 0
