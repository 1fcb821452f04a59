"""The runner's executor seam: ``--executor`` names a Lab class; a fault an executor cannot honour is refused
before anything is built (file:line and the reason), never ignored; bad names are refused with the choices."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from netns_lab import cli
from netns_lab.executors import EXECUTORS, lab_class, refusals
from netns_lab.lab import Lab
from netns_lab.mn_adapter import MininetLab
from netns_lab.runner import RunError, _preflight
from netns_lab.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]


class NoPartitions(Lab):
    executor: ClassVar[str] = "nopart"
    refused_faults: ClassVar[dict[str, str]] = {"partition": "its switches cannot filter"}


def test_each_executor_is_a_lab() -> None:
    assert EXECUTORS == ("netns", "mininet")
    assert lab_class("netns") is Lab and lab_class("mininet") is MininetLab
    assert MininetLab.shared_switch_namespace and not Lab.shared_switch_namespace
    with pytest.raises(ValueError, match="must be one of netns, mininet"):
        lab_class("docker")


def test_a_fault_the_executor_cannot_honour_is_refused_naming_file_line_and_reason() -> None:
    sc = load_scenario(ROOT / "scenarios" / "split-brain.yaml")
    kinds = [(f"{sc.path}:{f.line}", f.kind) for f in sc.schedule()]
    msgs = refusals(NoPartitions, kinds)
    assert len(msgs) == 1 and "split-brain.yaml:" in msgs[0]
    assert "fault 'partition' cannot run on the nopart executor: its switches cannot filter" in msgs[0]
    assert refusals(Lab, kinds) == [] and refusals(MininetLab, kinds) == []  # both honour every shipped fault


def test_the_runner_refuses_bad_executors_and_uml_on_mininet() -> None:
    sc = load_scenario(ROOT / "scenarios" / "master-crash.yaml")
    with pytest.raises(RunError, match="--executor docker: must be one of netns, mininet"):
        _preflight(sc, "pykeepalived", "auto", "docker", sc.schedule())
    with pytest.raises(RunError, match="kernel 'uml' runs on the netns executor only"):
        _preflight(sc, "pykeepalived", "uml", "mininet", sc.schedule())


def test_the_cli_refuses_an_unknown_executor(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", str(ROOT / "scenarios" / "master-crash.yaml"), "--executor", "docker"])
    assert exc.value.code == 2
    assert "invalid choice: 'docker'" in capsys.readouterr().err
