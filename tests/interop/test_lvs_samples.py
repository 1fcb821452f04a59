"""Every LVS sample config Debian's keepalived ships maps onto checks, a pool and IPVS services (nothing refused),
including SMTP_CHECK's deprecated ``host {}`` blocks, one check per host as keepalived runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pykeepalived.config import load_config
from pykeepalived.daemon.lvs import build_lvs

pytestmark = pytest.mark.interop

SAMPLES = Path("/usr/share/doc/keepalived/samples")
SAMPLE_FILES = sorted(p.name for p in SAMPLES.glob("keepalived.conf.*")) if SAMPLES.is_dir() else []


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_sample_virtual_servers_map(name: str) -> None:
    cfg = load_config(str(SAMPLES / name)).config
    # the samples' MISC_CHECK scripts (/usr/local/bin/script.sh ...) are not on this host, where keepalived and
    # ours disable them (tests/unit/test_daemon_lvs.py): here every script counts as present, to map them all
    settings = build_lvs(cfg, refusal=lambda argv, user, security: None)
    assert len(settings.pool) == len(cfg.virtual_servers)
    assert len(settings.checks) >= sum(len(rs.checkers) for vs in cfg.virtual_servers for rs in vs.real_servers)
    settings.desired(settings.new_pool())  # every member maps to a destination


def test_smtp_host_blocks_are_one_check_each() -> None:
    if "keepalived.conf.SMTP_CHECK" not in SAMPLE_FILES:
        pytest.skip("Debian's keepalived samples are not installed")
    settings = build_lvs(load_config(str(SAMPLES / "keepalived.conf.SMTP_CHECK")).config)
    rs = {r.key: r.checks for vs in settings.pool for r in vs.real_servers}
    assert [len(c) for c in rs.values()] == [1, 3, 3]
    targets = {c.key: c.target for c in settings.checks}
    third = "[192.168.200.100]:tcp:25|[172.16.1.12]:tcp:25/c0"  # the third real server's SMTP_CHECK
    assert (targets[third + "h2"].ip, targets[third + "h2"].port) == ("64.233.167.100", 587)
    assert targets[third + "h1"].bindto == "192.168.155.2"
