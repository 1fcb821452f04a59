"""The Mininet executor (``netns-lab run FILE --executor mininet``): Debian's Mininet (LinuxBridge, no controller,
under /usr/bin/python3) builds the scenario's topology, our daemon or keepalived runs in its hosts, and the same
history, checkers and report judge the run: the crash scenario passes for both daemons, split brain too (the
partition is an nft bridge table in the root namespace, named for the run and matching only its ports).  Nothing
of a run is left (links, bridges, names, nft tables, state file).  And the topology file works with ``mn --custom``
as a user types it."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from netns_lab import mininet_topo_path
from netns_lab.cleanup import NETNS_DIR, STATE_DIR
from netns_lab.history import History
from netns_lab.mn_adapter import MininetLab, available
from netns_lab.nemesis import TABLE, Nemesis
from netns_lab.runner import run_scenario
from netns_lab.scenario import load_scenario
from netns_lab.topology import Topology

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(available() is not None, reason=str(available())),
]

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def links() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout


def tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout


def assert_nothing_left(prefix: str) -> None:
    assert f" {prefix}" not in links(), "the run left links or bridges behind"
    assert not list(NETNS_DIR.glob(f"{prefix}-*")), "the run left namespace names behind"
    assert prefix not in tables(), "the run left an nft table behind"
    assert not (STATE_DIR / f"{prefix}.json").exists()


@pytest.mark.parametrize("impl", ["pykeepalived", pytest.param("keepalived", marks=pytest.mark.interop)])
def test_the_crash_scenario_passes_on_mininet(tmp_path: Path, impl: str) -> None:
    result = run_scenario(load_scenario(SCENARIOS / "master-crash.yaml"), impl=impl, executor="mininet",
                          log_dir=tmp_path / "run", picture_dir=tmp_path)  # fmt: skip
    assert result.ok, result.summary()
    assert result.executor == "mininet" and f"with {impl} on mininet: PASS" in result.summary()
    assert json.loads((tmp_path / "run" / "result.json").read_text())["executor"] == "mininet"
    assert result.figures()["failover_gap.gap_0_s"] > 0
    assert [p.suffix for p in result.pictures] == [".png", ".svg"]
    assert_nothing_left(result.prefix)


def test_split_brain_passes_on_mininet(tmp_path: Path) -> None:
    result = run_scenario(load_scenario(SCENARIOS / "split-brain.yaml"), executor="mininet",
                          log_dir=tmp_path / "run", picture_dir=tmp_path)  # fmt: skip
    assert result.ok, result.summary()
    assert [f.kind for f in result.history.faults] == ["partition", "heal"]
    assert_nothing_left(result.prefix)


def ping(lab: MininetLab, host: str, dst: str) -> bool:
    """An echo reply within 3 s (tries again: a neighbour entry left incomplete by a fault just lifted first
    answers "unreachable")."""
    deadline = time.monotonic() + 3
    while lab.exec(host, ["ping", "-c1", "-W1", dst], check=False).returncode != 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_the_nemesis_on_mininet_keeps_to_the_runs_own_table_and_ports(tmp_path: Path) -> None:
    with MininetLab(Topology.default(), log_dir=tmp_path) as lab:
        prefix = lab.prefix
        assert "10.0.0.11/24" in lab.exec("lb1", ["ip", "-br", "addr", "show", "eth0"]).stdout
        assert ping(lab, "lb1", "10.0.0.12") and ping(lab, "lb1", "fd00::12")
        nemesis = Nemesis(lab, History(), lambda: 0)
        nemesis.partition([["lb1", "client"], ["lb2"]])
        table = f"{TABLE}_{prefix}"
        assert nemesis.table == table and f"table bridge {table}\n" in tables()
        ruleset = lab.switch_exec("lan", ["nft", "list", "table", "bridge", table]).stdout
        ports = [w.strip('"{},') for line in ruleset.splitlines() if "ifname" in line for w in line.split()
                 if w.strip('"{},').endswith(("-p0", "-p1", "-p2", "-p3", "-p4"))]  # fmt: skip
        assert ports and all(p.startswith(prefix) for p in ports), ruleset
        assert not ping(lab, "lb1", "10.0.0.12") and ping(lab, "lb1", "10.0.0.10")
        nemesis.heal()
        assert table not in tables()
        assert ping(lab, "lb1", "10.0.0.12")
        nemesis.loss(["lb2"], 1.0)
        assert not ping(lab, "lb1", "10.0.0.12")
        nemesis.link_down("rs1")
        assert not ping(lab, "client", "10.0.0.21")
        nemesis.close()  # lifts the loss and the link fault, deletes the table
        assert table not in tables() and ping(lab, "lb1", "10.0.0.12") and ping(lab, "client", "10.0.0.21")
        nemesis.partition([["lb1"]])
    assert_nothing_left(prefix)  # the table of a partition still in force goes with the run


def test_the_topology_file_works_with_mn_custom_as_typed(tmp_path: Path) -> None:
    # a run prefix of its own (the default, nlmn, is for a user's one mn at a time)
    cp = subprocess.run(["mn", "--custom", str(mininet_topo_path()), "--topo", "netns_lab,prefix=t15mn", "--switch",
                         "lxbr", "--controller", "none", "--test", "pingall"],
                        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)  # fmt: skip
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "*** Adding hosts:\nclient lb1 lb2 rs1 rs2" in cp.stderr, cp.stderr
    assert "*** Results: 0% dropped (20/20 received)" in cp.stdout + cp.stderr, cp.stdout + cp.stderr
    assert "t15mn" not in links()


def test_a_failed_run_on_mininet_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="the test broke"), MininetLab(Topology.default(), log_dir=tmp_path) as lab:
        prefix = lab.prefix
        sleeper = lab.start("lb1", ["sleep", "300"])
        Nemesis(lab, History(), lambda: 0).partition([["lb1"]])
        raise RuntimeError("the test broke")
    assert not sleeper.running()
    assert_nothing_left(prefix)
