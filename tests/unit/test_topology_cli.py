"""``netns-lab topology`` prints the default topology; bad flags give usage and status 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from netns_lab.cli import main
from netns_lab.topology import Topology


def test_topology_json_is_the_default_topology(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "--json"]) == 0
    assert Topology.from_dict(json.loads(capsys.readouterr().out)) == Topology.default()


def test_topology_text_lists_hosts_and_addresses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology"]) == 0
    out = capsys.readouterr().out
    for host, n in (("client", 10), ("lb1", 11), ("lb2", 12), ("rs1", 21), ("rs2", 22)):
        assert f"host {host}\n    eth0 -> lan: 10.0.0.{n}/24, fd00::{n}/64" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["bogus"], "invalid choice: 'bogus'"),
        (["topology", "--nope"], "unrecognized arguments: --nope"),
        (["clean", "--prefix"], "argument --prefix: expected one argument"),
    ],
)
def test_bad_flags_exit_2_with_usage(argv: list[str], needle: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "netns_lab.cli", *argv], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 2
    assert needle in out.stderr and "usage: netns-lab" in out.stderr
    assert "Traceback" not in out.stderr
