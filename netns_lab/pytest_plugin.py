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

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from netns_lab.capture import Capture
from netns_lab.checks import CheckContext, Verdict, run_checks
from netns_lab.daemons import Daemon, DaemonSpec, Impl, start_daemon, vip_holders
from netns_lab.fixtures import lab, lab_factory
from netns_lab.history import History
from netns_lab.lab import Lab
from netns_lab.lab_history import LabRecorder, VipWatcher, configured_instances
from netns_lab.nemesis import Nemesis
from netns_lab.scenario import Scenario, load_scenario, parse_scenario
from netns_lab.waiting import wait_until

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


class ScenarioRun:
    """One scenario up in a lab: its daemons (``daemons``), the ``nemesis`` for faults, and the history so far.

    Use as a context manager or through the ``netns_scenario`` fixture (which closes it)."""

    def __init__(self, scenario: Scenario, log_dir: Path, *, impl: Impl | None = None) -> None:
        self.scenario = scenario
        self.log_dir = log_dir
        self.impl = impl
        self.lab = Lab(scenario.topology, log_dir=log_dir)
        self.recorder = LabRecorder()
        self.daemons: dict[str, Daemon] = {}
        self.vips = sorted({v for r in scenario.routers for ci in configured_instances(r.config).values()
                            for v in ci.vips})  # fmt: skip
        self.nemesis = Nemesis(self.lab, History(), lambda: self.recorder.us(time.time()))
        self._capture: Capture | None = None
        self._watcher: VipWatcher | None = None
        self._closed = False

    def __enter__(self) -> ScenarioRun:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def up(self, timeout: float = 30.0) -> ScenarioRun:
        """Build the lab, start every router's daemon, and wait until one of them holds the VIPs."""
        self.lab.__enter__()
        try:
            hosts = [r.host for r in self.scenario.routers]
            switch = next(lk.switch for lk in self.lab.topology.links if lk.host == hosts[0])
            self._capture = Capture.on_switch(self.lab, switch).start()
            self._watcher = VipWatcher(self.lab, self.vips, hosts=hosts).__enter__()
            for r in self.scenario.routers:
                impl: Any = r.impl or self.impl or "pykeepalived"
                config = r.config.replace("@RUN_DIR@", str(self.lab.log_dir))
                d = start_daemon(self.lab, DaemonSpec(r.host, config, impl=impl))
                self.daemons[r.host] = d
                self.nemesis.daemons[r.host] = d
                self.nemesis.starters[r.host] = d.start
                self.nemesis.configs[r.host] = d.conf_path
                self.recorder.fault("start", r.host)
            for d in self.daemons.values():
                d.wait_ready(timeout=15)
            if self.vips and not wait_until(lambda: len(self.holders()) == 1, timeout=timeout):
                raise TimeoutError(f"scenario {self.scenario.name}: no single router held {self.vips[0]} within "
                                   f"{timeout:g} s (holders: {self.holders()})")  # fmt: skip
        except BaseException:
            self.close()
            raise
        return self

    def holders(self) -> list[str]:
        """The routers whose daemon runs and that hold the first VIP now (a killed daemon leaves its VIPs on
        the interface, as keepalived does: nothing runs to remove them, so they do not count)."""
        running = [h for h, d in self.daemons.items() if d.running()]
        return vip_holders(self.lab, self.vips[0], running)

    def master(self) -> str | None:
        """The router holding the first VIP now (None: nobody or several)."""
        held = self.holders()
        return held[0] if len(held) == 1 else None

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def wait_master(self, host: str, timeout: float = 15.0) -> None:
        """Wait until ``host`` alone holds the VIP."""
        if not wait_until(lambda: self.holders() == [host], timeout=timeout):
            raise TimeoutError(f"{host} did not hold {self.vips[0]} alone within {timeout:g} s "
                               f"(holders: {self.holders()})")  # fmt: skip

    def history(self) -> History:
        """Everything recorded so far: transitions (daemon logs), adverts (capture), VIP samples, faults."""
        addresses = {a.split("/")[0]: lk.host for lk in self.lab.topology.links for a in lk.addresses}
        rec = LabRecorder(t0=self.recorder.t0)
        rec.faults = [*self.recorder.faults, *self.nemesis.history.faults]
        adverts = self._capture.adverts() if self._capture is not None else []
        samples = list(self._watcher.samples) if self._watcher is not None else []
        return rec.history(self.daemons, adverts=adverts, addresses=addresses, vip_samples=samples)

    def context(self, settle: float | None = None) -> CheckContext:
        """The checkers' context now: advert interval and version from the first router's config (``settle``:
        how long after the last fault the routers must have converged; default Master_Down_Interval + 1 s)."""
        text = self.scenario.routers[0].config
        advert = float(_keyword(text, "advert_int", "1"))
        # keepalived's default is VRRPv2 for IPv4, whose adverts are whole seconds (RFC 3768 §5.3.7)
        version = int(_keyword(text, "version", "") or _keyword(text, "vrrp_version", "2"))
        if version == 2:
            advert = max(1.0, float(round(advert)))
        mdi = 3 * advert + advert
        return CheckContext(end=self.recorder.us(time.time()),
                            settle=round((mdi + 1.0 if settle is None else settle) * 1_000_000),
                            advert_interval_s=advert, version=version,
                            routers=tuple(r.host for r in self.scenario.routers))  # fmt: skip

    def check(self, name: str, **params: Any) -> Verdict:
        """One checker of :mod:`netns_lab.checks` (a scenario's ``expect`` name) over the history so far."""
        settle = params.pop("settle", None)
        return run_checks(self.history(), self.context(settle), [(name, params)])[0]

    def timeline(self, path: str | Path) -> list[Path]:
        """Draw the history so far (PNG and SVG at ``path``)."""
        from netns_lab.timeline import Run, draw  # matplotlib only when a picture is wanted
        return draw(Run(self.scenario.name, self.history(), self.recorder.us(time.time())), path)

    def close(self) -> None:
        """Lift faults, stop the daemons, tear the lab down (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):  # a half-built lab may have nothing to lift; teardown must go on
            self.nemesis.close()
        if self._watcher is not None:
            self._watcher.__exit__(None, None, None)
        if self._capture is not None:
            self._capture.stop()
        for d in self.daemons.values():
            d.stop()
        self.lab.teardown()


def _keyword(text: str, key: str, default: str) -> str:
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == key:
            return words[1]
    return default


def as_scenario(source: Scenario | Mapping[str, Any] | str | Path) -> Scenario:
    """A scenario from a Scenario, a dict in the scenario-file format, or a file path (errors name the field)."""
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return parse_scenario(yaml.safe_dump(dict(source), sort_keys=False), "<dict>")
    return load_scenario(source)


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
