"""One scenario up in a lab, for as long as its user wants: daemons, real servers, clients and the nemesis.

:class:`ScenarioRun` is what the pytest plugin's ``netns_scenario`` fixture hands a test, and what the keeper
of ``netns-lab up`` holds while a student pokes at the lab (:mod:`netns_lab.interactive`): the lab is built,
every router's daemon started, the scenario's real servers (and, if asked, its client workload) run, and the
history so far can be judged by the checkers or drawn as a timeline at any moment.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from netns_lab.arpwatch import ClientVipWatcher, client_watchers_for
from netns_lab.capture import Capture
from netns_lab.checks import CheckContext, Verdict, run_checks
from netns_lab.daemons import Daemon, DaemonSpec, Impl, start_daemon, vip_holders
from netns_lab.history import History
from netns_lab.lab import Lab
from netns_lab.lab_history import LabRecorder, VipWatcher, configured_instances
from netns_lab.nemesis import Nemesis, NemesisError
from netns_lab.process import LabProcess
from netns_lab.scenario import SELECTORS, Fault, Scenario, load_scenario, parse_scenario
from netns_lab.waiting import wait_until
from netns_lab.workload import client_argv, read_requests, start_server

__all__ = ["ScenarioRun", "as_scenario"]


class ScenarioRun:
    """One scenario up in a lab: its daemons (``daemons``), the ``nemesis`` for faults, and the history so far.

    Use as a context manager or through the ``netns_scenario`` fixture (which closes it)."""

    def __init__(
        self, scenario: Scenario, log_dir: Path | None, *, impl: Impl | None = None, interactive: bool = False
    ) -> None:
        self.scenario = scenario
        self.impl = impl
        self.lab = Lab(scenario.topology, log_dir=log_dir, scenario=scenario.name, interactive=interactive)
        self.log_dir = self.lab.log_dir  # None: the lab's own (under the temp dir, named for its prefix)
        self.recorder = LabRecorder()
        self.daemons: dict[str, Daemon] = {}
        self.servers: dict[str, LabProcess] = {}
        #: the client workloads started: (process, requests file, client host, "vip:port")
        self.clients: list[tuple[LabProcess, Path, str, str]] = []
        self.vips = sorted({v for r in scenario.routers for ci in configured_instances(r.config).values()
                            for v in ci.vips})  # fmt: skip
        self.nemesis = Nemesis(self.lab, History(), lambda: self.recorder.us(time.time()))
        self._capture: Capture | None = None
        self._watcher: VipWatcher | None = None
        self._client_watchers: list[ClientVipWatcher] = []
        self._closed = False

    def __enter__(self) -> ScenarioRun:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def up(self, timeout: float = 30.0, *, servers: bool = False, workload: bool = False) -> ScenarioRun:
        """Build the lab, start every router's daemon, and wait until one of them holds the VIPs; with
        ``servers`` the scenario's real servers run first, with ``workload`` its clients start at the end."""
        self.lab.__enter__()
        try:
            for s in self.scenario.servers if servers else ():
                self.servers[s.host] = start_server(self.lab, s.host, s.serve, s.port)
                self.nemesis.servers[s.host] = self.servers[s.host]
                self.nemesis.server_starters[s.host] = functools.partial(
                    start_server, self.lab, s.host, s.serve, s.port
                )
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
            for i, w in enumerate(self.scenario.workload if workload else ()):
                path = self.lab.log_dir / f"requests-{i}.jsonl"
                argv = client_argv(w.target, w.port, path, protocol=w.protocol, rate=w.rate, timeout=w.timeout,
                                   path=w.path)  # fmt: skip
                self.clients.append((self.lab.start(w.client, argv, name=f"client-{i}"), path, w.client,
                                     f"{w.target}:{w.port}"))  # fmt: skip
            if workload:  # the clients' own view of the VIPs (ARP / ND, their neighbour entries)
                self._client_watchers = client_watchers_for(self.scenario, self.lab, self.vips)
                for cw in self._client_watchers:
                    cw.__enter__()
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
        views = {cw.client: list(cw.samples) for cw in self._client_watchers}
        h = rec.history(self.daemons, adverts=adverts, addresses=addresses, vip_samples=samples, client_views=views)
        for _proc, path, client, target in self.clients:
            h.requests.extend(read_requests(path, self.recorder.t0, client=client, target=target))
        h.requests.sort(key=lambda r: r.t)
        return h

    def resolve(self, target: str) -> str:
        """A fault's target: a host name as it is, ``master`` (the router holding the first VIP now) or
        ``backup`` (the first running router that does not)."""
        if target not in SELECTORS:
            return target
        master = self.master()
        if target == "master":
            if master is None:
                raise NemesisError(f"no single master now (VIP holders: {self.holders()})")
            return master
        backups = [h for h, d in self.daemons.items() if h != master and d.running()]
        if not backups:
            raise NemesisError("no running backup router")
        return backups[0]

    def inject(self, f: Fault) -> Fault:
        """Inject ``f`` now through the nemesis (``master`` / ``backup`` resolved first); returns the fault
        as injected, selectors replaced by hosts, so its undoing hits the same hosts."""
        f = replace(
            f,
            target=self.resolve(f.target) if f.target is not None else None,
            targets=tuple(self.resolve(t) for t in f.targets),
            groups=tuple(tuple(self.resolve(h) for h in g) for g in f.groups),
        )
        self.nemesis.apply(f, f.target, self.resolve)
        if f.kind == "start" and f.target is not None:
            self.daemons[f.target].wait_ready(15)
        return f

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
        for proc, *_ in self.clients:
            proc.stop(5)
        for cw in self._client_watchers:
            cw.__exit__(None, None, None)
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
