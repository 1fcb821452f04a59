"""The Mininet adapter: Debian's Mininet (LinuxBridge, no controller, under /usr/bin/python3) builds the lab's
default topology with our daemon or keepalived in its hosts; when the master crashes, the backup takes over and
is then the only router holding the VIP; nothing of the run is left in the root namespace.  And the topology
file works as ``mn --custom``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from netns_lab import mininet_topo_path
from netns_lab.daemons import instance_block, keepalived_conf
from netns_lab.mn_adapter import MininetRun, available
from netns_lab.topology import Topology

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(available() is not None, reason=str(available())),
]


def links() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("impl", ["pykeepalived", "keepalived"])
def test_the_default_topology_in_mininet_fails_over_when_the_master_crashes(tmp_path: Path, impl: str) -> None:
    confs = {h: keepalived_conf(instance_block(priority=p, advert_int=1), router_id=h)
             for h, p in (("lb1", 200), ("lb2", 100))}  # fmt: skip
    with MininetRun(Topology.default(), confs, tmp_path, impl=impl) as run:  # type: ignore[arg-type]
        prefix = run.prefix
        assert f"{prefix}s0" in links()
        run.wait_holders("10.0.0.100", ["lb1"], timeout=20)
        run.kill("lb1")
        # the killed daemon leaves its VIP behind (nothing runs to remove it): the running routers count
        assert run.wait_holders("10.0.0.100", ["lb2"], timeout=10, hosts=["lb2"]) == ["lb2"]
        assert "Entering MASTER STATE" in run.log("lb2")
    assert prefix not in links(), "the run left links behind"


def test_the_topology_file_builds_with_mn_custom() -> None:
    cp = subprocess.run(["mn", "--custom", str(mininet_topo_path()), "--topo", "netns_lab", "--switch", "lxbr",
                         "--controller", "none", "--test", "none"],
                        capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "*** Adding hosts:\nclient lb1 lb2 rs1 rs2" in cp.stderr, cp.stderr
    assert "nlmns0" not in links()
