"""The Mininet topology file reads the lab's default topology from JSON shipped beside it (it runs under the
system Python and imports nothing of the project): that JSON must stay the lab's default topology."""

from __future__ import annotations

import json

import pytest

from netns_lab import cli, mininet_topo_path
from netns_lab.topology import Topology


def test_the_shipped_default_topology_is_the_labs() -> None:
    shipped = json.loads((mininet_topo_path().parent / "default-topology.json").read_text())
    assert shipped == Topology.default().to_dict()
    assert Topology.from_dict(shipped) == Topology.default()


def test_netns_lab_mininet_refuses_to_run_without_a_task(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["mininet"])
    assert exc.value.code == 2
    assert "nothing to do: give --crash" in capsys.readouterr().err
