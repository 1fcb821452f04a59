"""``netns-lab up / exec / fault / down / list`` as a student uses them: the lab stays up between commands,
faults act on it, ``down`` leaves nothing behind; bad input exits 2 with a message and no traceback.

Each test has its own run-state dir (``NETNS_LAB_STATE_DIR``), so "the one run that is up" is its own even
while other lab runs are live on the machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from netns_lab.cleanup import NETNS_DIR, netns_pids

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
CRASH = ROOT / "scenarios" / "master-crash.yaml"
NETNS_LAB = str(Path(sys.executable).with_name("netns-lab"))


class Cli:
    """``netns-lab`` with this test's run-state dir."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.env = {**os.environ, "NETNS_LAB_STATE_DIR": str(state_dir)}

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cp = subprocess.run([NETNS_LAB, *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        assert "Traceback" not in cp.stderr, cp.stderr
        return cp

    def up(self) -> dict[str, object]:
        cp = self("up", str(CRASH), "--json")
        assert cp.returncode == 0, cp.stderr
        info: dict[str, object] = json.loads(cp.stdout)
        return info


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    c = Cli(tmp_path / "state")
    try:
        yield c
    finally:  # whatever the test did: no run of this test stays up
        for state in c.state_dir.glob("*.json"):
            c("down", "--run", state.stem, timeout=60)


def _namespaces(prefix: str) -> list[str]:
    return sorted(p.name for p in NETNS_DIR.glob(f"{prefix}-*"))


def _gone(*pids: int, timeout: float = 5) -> bool:
    """Every pid has exited (a zombie waiting for init to reap it counts as exited)."""

    def alive(pid: int) -> bool:
        try:
            return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _vip_on(cli: Cli, host: str) -> bool:
    return "10.0.0.100/" in cli("exec", host, "ip", "-br", "addr", "show", "dev", "eth0").stdout


def test_up_exec_fault_down_and_nothing_is_left(cli: Cli) -> None:
    info = cli.up()
    prefix, keeper = str(info["prefix"]), int(str(info["keeper_pid"]))
    assert info["master"] == "lb1" and psutil.pid_exists(keeper)
    namespaces = _namespaces(prefix)
    assert len(namespaces) == 6  # the switch and five hosts, still there after `up` returned
    assert _vip_on(cli, "lb1") and not _vip_on(cli, "lb2")
    listed = cli("list", "--json")
    assert [(r["run"], r["kind"], r["alive"]) for r in json.loads(listed.stdout)] == [(prefix, "up", True)]

    # exec: argv (no shell), exit status passed through
    assert cli("exec", "lb1", "sh", "-c", "exit 7").returncode == 7
    # bad input with a run up: exit 2, the message names what is wrong
    bad = cli("exec", "lb9", "true")
    assert bad.returncode == 2 and "no host 'lb9'" in bad.stderr
    bad = cli("fault", "kill", "lb9")
    assert bad.returncode == 2 and "target: 'lb9' is not a router" in bad.stderr
    bad = cli("fault", "priority", "lb1", "300")
    assert bad.returncode == 2 and "priority:" in bad.stderr
    bad = cli("fault", "explode", "lb1")
    assert bad.returncode == 2 and "invalid choice: 'explode'" in bad.stderr
    # clean leaves a live `up` run alone (its keeper is its owner)
    assert "kept live run" in cli("clean", "--prefix", prefix).stdout
    assert _namespaces(prefix) == namespaces

    done = cli("fault", "kill", "master")
    assert done.returncode == 0 and "kill lb1" in done.stdout
    deadline = time.monotonic() + 10
    while not _vip_on(cli, "lb2") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _vip_on(cli, "lb2"), "the VIP did not move to lb2 after the master was killed"
    # a partition puts an nft table into the switch namespace: down must take it away too
    assert cli("fault", "partition", "lb1", "lb2,client").returncode == 0
    assert "netns_lab_nemesis" in cli("exec", "lan", "nft", "list", "tables").stdout

    pids = set(netns_pids(namespaces))
    assert pids, "the daemons and servers run inside the lab's namespaces"
    down = cli("down")
    assert down.returncode == 0 and "is down" in down.stdout and ".png" in down.stdout
    assert _namespaces(prefix) == []
    assert _gone(keeper, *pids)
    assert list(cli.state_dir.iterdir()) == []  # no state file, no control socket
    assert json.loads(cli("list", "--json").stdout) == []


def test_without_a_run_commands_say_so_and_exit_2(cli: Cli) -> None:
    for args in (("exec", "lb1", "true"), ("fault", "kill", "lb1"), ("down",), ("fault", "--run", "nl0000", "heal")):
        cp = cli(*args)
        assert cp.returncode == 2, args
        assert "no lab run" in cp.stderr, cp.stderr
    cp = cli("fault", "loss", "lb1", "half")
    assert cp.returncode == 2 and "probability: 'half' is not a number" in cp.stderr


def test_an_up_run_whose_keeper_died_is_removed_by_clean(cli: Cli) -> None:
    info = cli.up()
    prefix, keeper = str(info["prefix"]), int(str(info["keeper_pid"]))
    pids = set(netns_pids(_namespaces(prefix)))
    os.kill(keeper, signal.SIGKILL)  # no teardown runs: the daemons live on in the namespaces
    assert _gone(keeper)
    [row] = json.loads(cli("list", "--json").stdout)
    assert row["run"] == prefix and row["alive"] is False
    gone = cli("fault", "kill", "lb1")
    assert gone.returncode == 1 and "keeper" in gone.stderr and "gone" in gone.stderr
    assert f"removed dead run {prefix}" in cli("clean", "--prefix", prefix).stdout
    assert _namespaces(prefix) == [] and _gone(*pids)
    assert list(cli.state_dir.iterdir()) == []
