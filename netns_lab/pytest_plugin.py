"""pytest plugin for users' own CI (installed as the ``netns_lab`` ``pytest11`` entry point: no conftest needed).

The ``netns_scenario`` fixture brings up a scenario (a scenario file, or the same thing as a dict) with the
users' own keepalived.conf texts in a fresh lab, lets the test inject faults through the lab's nemesis, and
judges the recorded history with the same checkers as ``netns-lab run``::

    def test_backup_takes_over(netns_scenario):
        run = netns_scenario("scenarios/pair.yaml")        # or a dict in the scenario format
        assert run.master() == "lb1"
        run.nemesis.kill("lb1")
        run.wait_master("lb2", timeout=10)
        assert run.check("failover_gap").ok

When a test fails, the timeline picture of each of its runs (PNG and SVG, :mod:`netns_lab.timeline`) is
written beside the run's logs and named in the report (a "netns-lab timeline" section, and the
``netns_lab_timeline`` user property for JUnit XML).  Everything the fixture built is torn down after the
test, however it ends.  It also provides the ``lab`` / ``lab_factory`` fixtures of :mod:`netns_lab.fixtures`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from netns_lab.daemons import Impl
from netns_lab.fixtures import lab, lab_factory
from netns_lab.scenario import Scenario
from netns_lab.scenario_run import ScenarioRun, as_scenario

__all__ = ["ScenarioRun", "lab", "lab_factory", "netns_scenario", "pytest_runtest_makereport"]

_RUNS = pytest.StashKey[list["ScenarioRun"]]()


@pytest.fixture
def netns_scenario(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., ScenarioRun]]:
    """``up(source, *, impl=None) -> ScenarioRun``: bring a scenario up; everything is torn down afterwards."""
    runs: list[ScenarioRun] = []
    request.node.stash[_RUNS] = runs

    def up(source: Scenario | Mapping[str, Any] | str | Path, *, impl: Impl | None = None) -> ScenarioRun:
        sc = as_scenario(source)
        run = ScenarioRun(sc, tmp_path / f"run{len(runs)}-{sc.name}", impl=impl)
        runs.append(run)
        return run.up()

    try:
        yield up
    finally:
        for run in reversed(runs):
            run.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        runs: list[ScenarioRun] = item.stash.get(_RUNS, [])
        for i, run in enumerate(runs):
            if run._closed:
                continue
            try:
                paths = run.timeline(run.log_dir / f"timeline-{i}")
            except Exception as exc:  # the report must still say why the test failed
                report.sections.append(("netns-lab timeline", f"could not draw the timeline: {exc}"))
                continue
            report.sections.append(("netns-lab timeline", "\n".join(str(p) for p in paths)))
            report.user_properties.append(("netns_lab_timeline", str(paths[0])))
    return report
