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

For long soaks of drawn schedules it shards one soak over workers and machines (:mod:`netns_lab.soak`): a test
taking a ``soak_shard`` argument is parametrized over this machine's shards; ``--soak-shard I/N`` (machine I of
N), ``--soak-shards K`` (shards per machine, default 2: ``pytest -n 2``), ``--soak-examples`` (in all, every
machine; default: the Hypothesis profile's lab count), ``--soak-seed``, ``--soak-db DIR``, ``--soak-results DIR``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from netns_lab.daemons import Impl
from netns_lab.fixtures import lab, lab_factory
from netns_lab.scenario import Scenario
from netns_lab.scenario_run import ScenarioRun, as_scenario

__all__ = ["ScenarioRun", "lab", "lab_factory", "netns_scenario", "pytest_addoption", "pytest_configure",
           "pytest_configure_node", "pytest_generate_tests", "pytest_runtest_makereport"]  # fmt: skip

_RUNS = pytest.StashKey[list["ScenarioRun"]]()
_SOAK_SEED = "netns_lab_soak_seed"  # the key in pytest-xdist's workerinput
_SOAK_SEED_KEY = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("netns_lab soak", "sharding one soak of drawn schedules over workers and machines")
    g.addoption("--soak-shard", default="0/1", metavar="I/N", help="run machine I's part of a soak cut for N machines")
    g.addoption("--soak-shards", type=int, default=None, metavar="K",
                help="shards on this machine, one test each (default 2: pytest -n 2 runs them at once)")  # fmt: skip
    g.addoption("--soak-examples", type=int, default=None, metavar="N",
                help="examples of the whole soak, all machines (default: the Hypothesis profile's)")  # fmt: skip
    g.addoption("--soak-seed", type=int, default=None, metavar="S",
                help="base seed (give every machine the same one; default 0 under CI, else random)")  # fmt: skip
    g.addoption("--soak-db", default=None, metavar="DIR", help="Hypothesis databases, one directory per shard "
                "(default .hypothesis/soak under the rootdir)")  # fmt: skip
    g.addoption("--soak-results", default=None, metavar="DIR", help="write each shard's result as JSON here")


def pytest_configure(config: pytest.Config) -> None:
    """The soak's base seed: the option, the xdist controller's (one per soak), 0 under CI, or random."""
    given = config.getoption("soak_seed", None)
    inherited = getattr(config, "workerinput", {}).get(_SOAK_SEED)
    if given is not None:
        seed = int(given)
    elif inherited is not None:
        seed = int(inherited)
    else:
        seed = 0 if os.environ.get("CI") == "true" else secrets.randbelow(1 << 30)
    config.stash[_SOAK_SEED_KEY] = seed


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker gets the controller's base seed (so shards' seeds are the soak's)."""
    node.workerinput[_SOAK_SEED] = node.config.stash[_SOAK_SEED_KEY]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking ``soak_shard`` runs once per shard of this machine."""
    if "soak_shard" not in metafunc.fixturenames:
        return
    from netns_lab.soak import DEFAULT_SHARDS, SoakPlan, parse_machine_shard

    config = metafunc.config
    try:
        machine, machines = parse_machine_shard(config.getoption("soak_shard"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    shards = config.getoption("soak_shards") or DEFAULT_SHARDS
    if shards < 1:
        raise pytest.UsageError(f"--soak-shards {shards}: must be at least 1")
    examples = config.getoption("soak_examples")
    if examples is None:
        from netns_lab.schedules import lab_examples

        examples = lab_examples()
    if examples < 1:
        raise pytest.UsageError(f"--soak-examples {examples}: must be at least 1")
    db = config.getoption("soak_db")
    results = config.getoption("soak_results")
    plan = SoakPlan(examples, machine, machines, shards, config.stash[_SOAK_SEED_KEY],
                    Path(db) if db else config.rootpath / ".hypothesis" / "soak",
                    Path(results) if results else None)  # fmt: skip
    metafunc.parametrize("soak_shard", plan.local_shards(), ids=[sh.id for sh in plan.local_shards()])


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
