"""``netns-lab run``: a scenario file, run for real in namespaces, judged by the checkers, drawn as a timeline.

The phases, each announced on a live progress line:

1. build the scenario's topology (:class:`~netns_lab.lab.Lab`), start the bridge capture and the VIP watcher;
2. start the real servers, then each router's daemon (ours or keepalived, :mod:`netns_lab.daemons`) with its
   config (``@RUN_DIR@`` replaced by its run directory);
3. wait until a master advertises and holds the VIP: scenario times count from this moment ("settled"), or
   from when every client sends, if that is later (inside User-Mode Linux an interpreter starts slowly);
4. start the client workloads, then inject each fault of the schedule when due (:mod:`netns_lab.nemesis`),
   resolving ``master`` / ``backup`` at that moment; the directors' IPVS tables are sampled throughout
   (:mod:`netns_lab.ipvs_watch`);
5. run to the end, lift what is still in force, stop everything, write the history
   (:mod:`netns_lab.lab_history`), run the expectations' checkers (:mod:`netns_lab.checks`) and draw the
   timeline (:mod:`netns_lab.timeline`).

Everything is torn down on success, failure and Ctrl-C (the Lab removes namespaces, processes, and with
them the nemesis's nft tables). A scenario that needs IPVS on a kernel without it runs the same phases inside
one User-Mode Linux instance (:mod:`netns_lab.uml_runner`, ``--kernel uml``).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

from netns_lab.arpwatch import client_watchers_for
from netns_lab.capture import AdvertSeen, Capture
from netns_lab.checks import CheckContext, Verdict, run_checks
from netns_lab.daemons import (
    IMPLS,
    KEEPALIVED,
    Daemon,
    DaemonSpec,
    Impl,
    host_addresses,
    start_daemon,
    vip_holders,
)
from netns_lab.executors import EXECUTORS, lab_class, refusals
from netns_lab.history import History, IpvsSample
from netns_lab.ipvs_watch import IpvsWatcher, lvs_facts
from netns_lab.lab import Lab
from netns_lab.lab_history import LabRecorder, VipWatcher
from netns_lab.measure import master_down_interval
from netns_lab.nemesis import Nemesis, NemesisError
from netns_lab.process import LabProcess
from netns_lab.scenario import SELECTORS, Fault, KnownFailure, Scenario
from netns_lab.scenario.model import has_virtual_servers
from netns_lab.timeline import Run, draw
from netns_lab.workload import client_argv, read_requests, server_argv

__all__ = ["LvsSide", "RunError", "RunResult", "guest_run", "lvs_side", "run_scenario"]

US = 1_000_000
KERNELS = ("auto", "host", "uml")
#: how long a daemon may take to start: inside User-Mode Linux, on a loaded machine, an interpreter (and ours
#: starts three) takes seconds
READY_S = 60


class RunError(RuntimeError):
    """A scenario could not be run (not root, no keepalived, no master elected...); the message says why."""


@dataclass
class RunResult:
    """What one run of a scenario produced: its history, the verdicts, the figures and the pictures."""

    scenario: Scenario
    impl: str
    seed: int | None
    kernel: str
    history: History
    context: CheckContext
    verdicts: list[Verdict]
    prefix: str
    log_dir: Path
    pictures: list[Path] = field(default_factory=list)
    executor: str = "netns"

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)

    @property
    def known_failure(self) -> KnownFailure | None:
        return self.scenario.known_failure(self.impl)

    def figures(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for v in self.verdicts:
            for k, val in v.figures.items():
                out[f"{v.check}.{k}"] = val
        return out

    def to_json(self) -> dict[str, Any]:
        kf = self.known_failure
        return {
            "scenario": self.scenario.name,
            "file": str(self.scenario.path),
            "impl": self.impl,
            "seed": self.seed,
            "kernel": self.kernel,
            "executor": self.executor,
            "ok": self.ok,
            "known_failure": kf.reason if kf else None,
            "verdicts": [
                {
                    "check": v.check,
                    "ok": v.ok,
                    "summary": v.summary,
                    "evidence": list(v.evidence),
                    "figures": dict(v.figures),
                }
                for v in self.verdicts
            ],
            "figures": self.figures(),
            "advert_interval_s": self.context.advert_interval_s,
            "vrrp_version": self.context.version,
            "faults": [
                {"t": f.t / US, "kind": f.kind, "node": f.node, "detail": f.detail} for f in self.history.faults
            ],
            "requests": {
                "ok": sum(r.ok for r in self.history.requests),
                "failed": sum(not r.ok for r in self.history.requests),
            },
            "pictures": [str(p) for p in self.pictures],
            "log_dir": str(self.log_dir),
        }

    def summary(self) -> str:
        on = f" on {self.executor}" if self.executor != "netns" else ""
        lines = [f"{self.scenario.name} with {self.impl}{on}: {'PASS' if self.ok else 'FAIL'}"]
        for v in self.verdicts:
            lines.append(f"  {'ok  ' if v.ok else 'FAIL'} {v.check}: {v.summary}")
            if not v.ok:
                lines += [f"         {e}" for e in v.evidence[:8]]
        kf = self.known_failure
        if kf is not None:
            lines.append(f"  known failure of {kf.impl}: {kf.reason}")
        r = self.history.requests
        if r:
            lines.append(f"  client requests: {sum(x.ok for x in r)} ok, {sum(not x.ok for x in r)} failed")
        for p in self.pictures:
            lines.append(f"  timeline: {p}")
        return "\n".join(lines)


class _Progress:
    """One line per phase and fault, with the time since the run started."""

    def __init__(self, out: TextIO | None) -> None:
        self.out = out
        self.t0 = time.time()

    def say(self, text: str) -> None:
        if self.out is not None:
            self.out.write(f"[{time.time() - self.t0:7.2f}s] {text}\n")
            self.out.flush()


class _DaemonProc:
    """A :class:`~netns_lab.daemons.Daemon` as the nemesis's ``Proc`` (reload goes to the main process only)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def running(self) -> bool:
        return self.daemon.running()

    def kill(self) -> None:
        self.daemon.kill()

    def pause(self) -> None:
        self.daemon.pause()

    def resume(self) -> None:
        self.daemon.resume()

    def signal(self, sig: int) -> None:
        if sig == 1:  # SIGHUP: keepalived's parent passes it on to its children
            self.daemon.reload()
        else:
            self.daemon.signal(sig)

    def stop(self, timeout: float = 5) -> int | None:
        return self.daemon.stop(timeout)


def _kernel_for(scenario: Scenario, kernel: str) -> str:
    """``host`` or ``uml``: ``--kernel`` (or the file's ``kernel``) when given; ``auto`` takes the host kernel
    unless the scenario needs IPVS and the host has none. A host kernel without IPVS is refused for an IPVS
    scenario."""
    from netns_lab.uml import KernelUnavailable, choose_kernel, host_has_ipvs

    wanted = scenario.kernel if kernel == "auto" else kernel
    ipvs = scenario.needs_ipvs
    if wanted == "auto":
        wanted = "uml" if ipvs and not host_has_ipvs() else "host"
    if wanted == "host" and ipvs and not host_has_ipvs():
        raise RunError(
            f"{scenario.path}: this scenario needs IPVS (its routers' configs have virtual_server blocks) and "
            f"this kernel ({os.uname().release}) has none: run it with --kernel uml (User-Mode Linux), or auto"
        )
    if wanted == "uml":
        try:
            choose_kernel(force="uml")
        except KernelUnavailable as exc:
            raise RunError(f"--kernel uml: {exc}") from None
    return wanted


def _preflight(scenario: Scenario, impl: str, kernel: str, executor: str = "netns",
               schedule: list[Fault] | None = None) -> str:  # fmt: skip
    """Refuse what cannot run (with the reason); the kernel the run will use."""
    if impl not in IMPLS:
        raise RunError(f"--impl {impl}: must be one of {', '.join(IMPLS)}")
    if kernel not in KERNELS:
        raise RunError(f"--kernel {kernel}: must be one of {', '.join(KERNELS)}")
    if executor not in EXECUTORS:
        raise RunError(f"--executor {executor}: must be one of {', '.join(EXECUTORS)}")
    refused = refusals(lab_class(executor), [(f"{scenario.path}:{f.line}", f.kind) for f in schedule or []])
    if refused:
        raise RunError("\n".join(refused))
    wanted = scenario.kernel if kernel == "auto" else kernel
    if wanted == "uml" and executor != "netns":
        raise RunError(f"{scenario.path}: kernel 'uml' runs on the netns executor only, not on {executor}")
    if os.geteuid() != 0:
        raise RunError("netns-lab run builds network namespaces and needs root (run it with sudo or as root)")
    impls = {r.impl or impl for r in scenario.routers}
    if "keepalived" in impls and not os.access(KEEPALIVED, os.X_OK):
        raise RunError(f"{KEEPALIVED} not found: install Debian's keepalived (apt-get install keepalived)")
    return _kernel_for(scenario, kernel)


def _vips(scenario: Scenario) -> list[str]:
    """The VIPs of the routers' configs (bare addresses, in order, once each)."""
    out: list[str] = []
    for r in scenario.routers:
        for block in re.findall(r"virtual_ipaddress\s*\{([^}]*)\}", r.config):
            for line in block.splitlines():
                word = line.split("#", 1)[0].split()
                if word:
                    bare = word[0].split("/", 1)[0]
                    try:
                        ipaddress.ip_address(bare)
                    except ValueError:
                        continue
                    if bare not in out:
                        out.append(bare)
    return out


def _refine_coarse(h: History, coarse: set[str]) -> None:
    """keepalived's console log stamps whole seconds: move each of its routers' MASTER entries to the first
    advert it sent in the following second (the wire's kernel timestamp), so checkers compare like with like."""
    if not coarse:
        return
    fixed = []
    for tr in h.transitions:
        if tr.node in coarse and tr.new.value == "MASTER":
            first = next(
                (a.t for a in h.adverts if a.node == tr.node and a.priority and tr.t <= a.t <= tr.t + US), None
            )
            if first is not None:
                tr = type(tr)(first, tr.node, tr.instance, tr.vrid, tr.segment, tr.old, tr.new, tr.reason, tr.priority)
        fixed.append(tr)
    h.transitions[:] = sorted(fixed, key=lambda t: t.t)


def _trim(h: History, end: int) -> None:
    h.transitions[:] = [x for x in h.transitions if x.t <= end]
    h.adverts[:] = [x for x in h.adverts if x.t <= end]
    h.vip_changes[:] = [x for x in h.vip_changes if x.t <= end]
    h.vip_holders[:] = [x for x in h.vip_holders if x.t <= end]
    h.client_views[:] = [x for x in h.client_views if x.t <= end]
    h.faults[:] = [x for x in h.faults if x.t <= end]
    h.ipvs[:] = [x for x in h.ipvs if x.t <= end]


def _interval(adverts: list[AdvertSeen]) -> tuple[float, int]:
    """The advert interval (s) and VRRP version most masters' adverts carry (1 s and v3 when none was seen)."""
    live = [a for a in adverts if a.priority]
    if not live:
        return 1.0, 3
    cs = Counter(a.interval_cs for a in live).most_common(1)[0][0]
    version = Counter(a.version for a in live).most_common(1)[0][0]
    return cs / 100, version


def run_scenario(
    scenario: Scenario,
    *,
    impl: str = "pykeepalived",
    seed: int | None = None,
    kernel: str = "auto",
    out: TextIO | None = None,
    picture_dir: Path | None = None,
    log_dir: Path | None = None,
    executor: str = "netns",
    lvs: LvsSide | None = None,
    draw_timeline: bool = True,
    teardown: bool = True,
) -> RunResult:
    """Run ``scenario`` with ``impl`` in the routers (a router's own ``impl`` wins) on ``executor``'s network
    (:mod:`netns_lab.executors`) and judge it.

    With ``kernel`` uml (or auto for an IPVS scenario on a kernel without IPVS) the whole run happens inside one
    User-Mode Linux instance (:mod:`netns_lab.uml_runner`). ``lvs``: the scenario's LVS side when already read
    (:func:`lvs_side`); ``draw_timeline`` False leaves the pictures to the caller; ``teardown`` False leaves the
    lab standing (for a User-Mode Linux guest about to power off)."""
    schedule = scenario.schedule(seed)
    if _preflight(scenario, impl, kernel, executor, schedule) == "uml":
        return _run_in_uml(scenario, impl, seed, out, picture_dir, log_dir)
    progress = _Progress(out)
    names = {str(ipaddress.ip_interface(a).ip): link.host for link in scenario.topology.links for a in link.addresses}
    routers = [r.host for r in scenario.routers]
    vips = _vips(scenario)
    progress.say(f"scenario {scenario.name}: {impl}, {len(routers)} routers, {len(schedule)} faults")
    if lvs is None:
        try:
            lvs = lvs_side(scenario)
        except ValueError as exc:
            raise RunError(f"{scenario.path}: {exc}") from None
    if lvs.directors:
        progress.say(
            f"LVS: {', '.join(lvs.directors)} direct {len(lvs.real_servers)} real server(s); detection bounds "
            + ", ".join(f"{h} {b:g} s" for h, b in lvs.real_servers.items() if b is not None)
        )
    with contextlib.ExitStack() as stack:
        lab = lab_class(executor)(scenario.topology, log_dir=log_dir, scenario=scenario.name)
        if teardown:
            stack.enter_context(lab)
        else:  # inside a User-Mode Linux guest everything dies with the kernel, at once
            lab.build()
        progress.say(f"lab {lab.prefix} built on {executor} ({', '.join(lab.hosts)}); logs in {lab.log_dir}")
        recorder = LabRecorder(segment=scenario.topology.switches[0].name)
        for s in scenario.topology.switches:  # promiscuous: the bridge passes up unicast adverts too (unicast_peer)
            lab.switch_exec(s.name, ["ip", "link", "set", lab.bridge_ifname(s.name), "promisc", "on"])
        captures = [Capture.on_switch(lab, s.name).start() for s in scenario.topology.switches]
        try:
            result = _run_in_lab(
                scenario,
                lab,
                impl,
                seed,
                kernel,
                schedule,
                routers,
                vips,
                names,
                recorder,
                captures,
                progress,
                picture_dir,
                lvs,
                draw_timeline,
            )
        finally:
            for cap in captures:
                cap.stop()
        if teardown:
            progress.say(f"tearing down lab {lab.prefix}")
    return result


def _run_in_uml(
    scenario: Scenario,
    impl: str,
    seed: int | None,
    out: TextIO | None,
    picture_dir: Path | None,
    log_dir: Path | None,
) -> RunResult:
    """The run inside one User-Mode Linux instance (:mod:`netns_lab.uml_runner`), as an ordinary result."""
    from netns_lab.uml_runner import UmlRunError, run_in_uml

    try:
        lvs = lvs_side(scenario)  # on the host: an interpreter's start costs seconds inside the guest
    except ValueError as exc:
        raise RunError(f"{scenario.path}: {exc}") from None
    try:
        run = run_in_uml(scenario, impl=impl, seed=seed, out=out, log_dir=log_dir, lvs=lvs.to_dict())
    except UmlRunError as exc:
        raise RunError(str(exc)) from None
    d = run.data
    verdicts = [
        Verdict(v["check"], bool(v["ok"]), v["summary"], tuple(v["evidence"]), dict(v["figures"]))
        for v in d["verdicts"]
    ]
    result = RunResult(
        scenario, impl, seed, run.kernel, History.from_dict(d["history"]), CheckContext.from_dict(d["context"]),
        verdicts, str(d["prefix"]), run.log_dir,
    )  # fmt: skip
    result.pictures = _draw(result, picture_dir or run.log_dir)  # matplotlib is quicker here than in the guest
    (run.log_dir / "result.json").write_text(json.dumps(result.to_json(), indent=2))
    return result


def guest_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Inside User-Mode Linux (``run_in_kernel`` target): this runner on the guest's kernel; the outcome as
    JSON for :func:`_run_in_uml`, or ``{"error": why}`` when the run could not happen."""
    from netns_lab.capture import CaptureError
    from netns_lab.daemons import DaemonError
    from netns_lab.lab import LabError
    from netns_lab.nemesis import NemesisError
    from netns_lab.scenario import parse_scenario

    scenario = parse_scenario(payload["text"], payload["path"])
    with open(payload["progress"], "a", buffering=1) as out:
        try:
            result = run_scenario(
                scenario,
                impl=payload["impl"],
                seed=payload["seed"],
                kernel="host",
                out=out,
                log_dir=Path(payload["log_dir"]),
                lvs=LvsSide.from_dict(payload["lvs"]),
                draw_timeline=False,
                teardown=False,
            )
        except (RunError, LabError, DaemonError, CaptureError, NemesisError, OSError) as exc:
            return {"error": str(exc)}
    return {
        "history": result.history.to_dict(),
        "context": result.context.to_dict(),
        "verdicts": [
            {"check": v.check, "ok": v.ok, "summary": v.summary, "evidence": list(v.evidence),
             "figures": dict(v.figures)}
            for v in result.verdicts
        ],
        "prefix": result.prefix,
    }


def _run_in_lab(
    scenario: Scenario,
    lab: Lab,
    impl: str,
    seed: int | None,
    kernel: str,
    schedule: list[Fault],
    routers: list[str],
    vips: list[str],
    names: dict[str, str],
    recorder: LabRecorder,
    captures: list[Capture],
    progress: _Progress,
    picture_dir: Path | None,
    lvs: LvsSide,
    draw_timeline: bool,
) -> RunResult:
    servers: dict[str, LabProcess] = {}

    def launch(host: str) -> LabProcess:
        spec = next(s for s in scenario.servers if s.host == host)
        return lab.start(host, server_argv(spec.serve, spec.port, host), name=f"server-{spec.serve}")

    def ready(host: str, proc: LabProcess) -> LabProcess:
        deadline = time.monotonic() + 30  # an interpreter's start inside User-Mode Linux takes seconds
        while "ready" not in proc.log_text():
            if not proc.running() or time.monotonic() > deadline:
                raise RunError(f"the server in {host} did not start:\n{proc.log_text()[-1000:]}")
            time.sleep(0.05)
        return proc

    def start_server(host: str) -> LabProcess:
        return ready(host, launch(host))

    launched = {s.host: launch(s.host) for s in scenario.servers}  # all at once, then wait for each
    for host, proc in launched.items():
        servers[host] = ready(host, proc)
    if servers:
        progress.say(f"real servers up: {', '.join(f'{s.host} ({s.serve}:{s.port})' for s in scenario.servers)}")

    daemons: dict[str, Daemon] = {}
    configs: dict[str, Path] = {}
    for r in scenario.routers:
        which = cast(Impl, r.impl or impl)
        label = f"{r.host}-{which}"  # start_daemon's run directory: <log dir>/daemons/<label> in a fresh lab
        config = r.config.replace("@RUN_DIR@", str(lab.log_dir / "daemons" / label))
        # a director runs the whole daemon (VRRP and checkers, as keepalived does without -P)
        spec = DaemonSpec(r.host, config, impl=which, label=label, vrrp_only=r.host not in lvs.directors)
        d = start_daemon(lab, spec)
        daemons[r.host] = d
        configs[r.host] = d.conf_path
    for d in daemons.values():
        d.wait_ready(READY_S)
    all_ready = time.time()  # one daemon may be up seconds before another (inside User-Mode Linux, say)
    progress.say("daemons started: " + ", ".join(f"{h} ({d.impl}, pid {d.pid})" for h, d in daemons.items()))

    for host in routers:  # IPv6 adverts come from link-local addresses: name those too
        for addr in host_addresses(lab, host):
            names.setdefault(addr, host)
    router_ips = {ip for ip, h in names.items() if h in daemons}
    client_watchers = client_watchers_for(scenario, lab, vips)
    ipvs_watch = IpvsWatcher(lab, lvs.directors, names)
    with VipWatcher(lab, vips, hosts=routers) as watcher, ipvs_watch, contextlib.ExitStack() as watching:
        for cw in client_watchers:
            watching.enter_context(cw)
        # Settled: since every daemon was ready, one router has advertised alone for a whole Master_Down_Interval
        # plus an interval (so a higher-priority router that started later has had its chance to preempt) and a
        # VIP is held.
        first: AdvertSeen | None = None
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            seen = (a for cap in captures for a in cap.adverts() if a.t >= all_ready)
            adv = sorted((a for a in seen if a.priority and a.src in router_ips), key=lambda a: a.t)
            if adv:
                interval, version = _interval(adv)
                mdi = master_down_interval(version, 1, interval)
                lead = adv[-1]
                since = max((a.t for a in adv if names.get(a.src) != names.get(lead.src)), default=adv[0].t - 1e-6)
                alone = [a for a in adv if a.t > since]
                if alone[-1].t - alone[0].t >= mdi + interval and (
                    not vips or any(vip_holders(lab, v, routers) for v in vips)
                ):
                    first = lead
                    break
            time.sleep(0.1)
        if first is None:
            logs = "\n".join(f"--- {h}\n{d.log_tail(800)}" for h, d in daemons.items())
            raise RunError(f"no stable master within 40 s; logs in {lab.log_dir}\n{logs}")
        interval, version = _interval([a for cap in captures for a in cap.adverts()])
        mdi = master_down_interval(version, 1, interval)
        settled = time.time()
        progress.say(
            f"settled: {names.get(first.src, first.src)} is master (VRRPv{version}, adverts every "
            f"{interval:g} s, Master_Down_Interval up to {mdi:.2f} s)"
        )

        clients: list[tuple[LabProcess, Path, str, str]] = []
        for i, w in enumerate(scenario.workload):
            path = lab.log_dir / f"requests-{i}.jsonl"
            argv = client_argv(w.target, w.port, path, protocol=w.protocol, rate=w.rate, timeout=w.timeout, path=w.path)
            clients.append((lab.start(w.client, argv, name=f"client-{i}"), path, w.client, f"{w.target}:{w.port}"))
        if clients:
            # The fault schedule counts from when every client sends: an interpreter's start takes seconds inside
            # User-Mode Linux, and a fault at 2 s must not come before the traffic it is meant to disturb.
            deadline = time.monotonic() + 30
            for proc, *_ in clients:
                while "ready" not in proc.log_text():
                    if not proc.running() or time.monotonic() > deadline:
                        raise RunError(f"a client in {proc.host} did not start:\n{proc.log_text()[-1000:]}")
                    time.sleep(0.05)
            if time.time() - settled > 0.5:
                settled = time.time()
            progress.say(f"clients started: {', '.join(w.name for w in scenario.workload)}")

        nemesis = Nemesis(
            lab,
            History(),
            lambda: recorder.us(time.time()),
            daemons={h: _DaemonProc(d) for h, d in daemons.items()},
            servers=servers,
            starters={h: _restarter(d) for h, d in daemons.items()},
            server_starters={h: functools.partial(start_server, h) for h in servers},
            configs=configs,
        )
        try:
            resolved: dict[tuple[int, float], str] = {}
            for f in schedule:
                delay = settled + f.at - time.time()
                if delay > 0:
                    time.sleep(delay)
                _inject(f, nemesis, lab, daemons, routers, captures, names, progress, scenario, resolved)
            settle = scenario.settle if scenario.settle is not None else mdi + 2 * interval + 1
            end_at = settled + scenario.duration
            last = max((f.t for f in nemesis.history.faults), default=None)
            if last is not None and recorder.t0 + last / US + settle + 0.1 > end_at:
                end_at = recorder.t0 + last / US + settle + 0.1
                progress.say(
                    f"note: running {end_at - settled - scenario.duration:.1f} s longer than the scenario's "
                    f"duration so the last fault settles ({settle:.1f} s)"
                )
            remaining = end_at - time.time()
            if remaining > 0:
                progress.say(f"running until {scenario.duration:g} s")
                time.sleep(remaining)
            end = recorder.us(time.time())
        finally:
            for proc, *_ in clients:
                proc.stop(5)
            nemesis.close()
    with ThreadPoolExecutor(max_workers=len(daemons) or 1) as pool:  # together: each may take seconds (UML)
        list(pool.map(lambda d: d.stop(5), daemons.values()))
    recorder.faults.extend(nemesis.history.faults)
    adverts = [a for cap in captures for a in cap.adverts()]
    h = recorder.history(daemons, adverts=adverts, addresses=names, vip_samples=watcher.samples,
                         client_views={cw.client: cw.samples for cw in client_watchers})  # fmt: skip
    h.ipvs.extend(IpvsSample(recorder.us(t), node, svcs, dests) for t, node, svcs, dests in ipvs_watch.samples)
    _refine_coarse(h, {host for host, d in daemons.items() if d.impl == "keepalived"})
    _trim(h, end)  # what the teardown did (daemons stopping, faults lifted) is not part of the scenario
    for _proc, path, client, target in clients:
        h.requests.extend(read_requests(path, recorder.t0, client=client, target=target))
    h.requests.sort(key=lambda r: r.t)
    h.faults.sort(key=lambda f: f.t)
    settle_us = round((scenario.settle if scenario.settle is not None else mdi + 2 * interval + 1) * US)
    ctx = CheckContext(
        end=end,
        settle=settle_us,
        advert_interval_s=interval,
        version=version,
        routers=tuple(routers),
        settled=recorder.us(settled),
        real_servers=lvs.real_servers,
        sorry_servers=lvs.sorry_servers,
    )
    verdicts = run_checks(h, ctx, [(e.check, dict(e.params)) for e in scenario.expect])
    result = RunResult(scenario, impl, seed, "host", h, ctx, verdicts, lab.prefix, lab.log_dir,
                       executor=lab.executor)
    if draw_timeline:
        result.pictures = _draw(result, picture_dir or lab.log_dir)
    (lab.log_dir / "result.json").write_text(json.dumps(result.to_json(), indent=2))
    return result


def _draw(result: RunResult, pdir: Path) -> list[Path]:
    title = f"{result.scenario.name} — {result.impl}" + (f" (seed {result.seed})" if result.seed is not None else "")
    return draw(Run(title, result.history, result.context.end), pdir / f"{result.scenario.name}-{result.impl}")


@dataclass(frozen=True)
class LvsSide:
    """The LVS side of a scenario: which routers direct (their configs have virtual servers), each real
    server's host and keepalived's detection bound for it (the largest over the directors' configs), and the
    sorry servers' hosts."""

    directors: tuple[str, ...] = ()
    real_servers: dict[str, float | None] = field(default_factory=dict)
    sorry_servers: tuple[str, ...] = ()



    def to_dict(self) -> dict[str, Any]:
        return {"directors": list(self.directors), "real_servers": self.real_servers,
                "sorry_servers": list(self.sorry_servers)}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LvsSide:
        return cls(tuple(d["directors"]), dict(d["real_servers"]), tuple(d["sorry_servers"]))


def lvs_side(scenario: Scenario) -> LvsSide:
    """Read the LVS side of ``scenario`` from its routers' configs (``pykeepalived -d``, one per director)."""
    directors = tuple(r.host for r in scenario.routers if has_virtual_servers(r.config))
    if not directors:
        return LvsSide()
    names = {str(ipaddress.ip_interface(a).ip): link.host for link in scenario.topology.links for a in link.addresses}
    real: dict[str, float | None] = {}
    sorry: list[str] = []

    def host_of(dest: str) -> str:
        return names.get(dest.rpartition(":")[0].strip("[]"), dest)

    with ThreadPoolExecutor(max_workers=len(directors)) as pool:
        facts = list(pool.map(lvs_facts, [scenario.router(h).config for h in directors]))
    for f in facts:
        for rs in f.real_servers:
            host = host_of(rs.dest)
            old = real.get(host)
            real[host] = rs.bound_s if old is None else max(old, rs.bound_s or 0.0)
        sorry += [host_of(d) for d in f.sorry.values() if host_of(d) not in sorry]
    return LvsSide(directors, real, tuple(sorry))


def _restarter(d: Daemon) -> Callable[[], _DaemonProc]:
    def start() -> _DaemonProc:
        return _DaemonProc(d.start())

    return start


def _master(lab: Lab, daemons: dict[str, Daemon], captures: list[Capture], names: dict[str, str]) -> str | None:
    """The router that advertised last (priority > 0), if its daemon runs."""
    adv = sorted((a for cap in captures for a in cap.adverts() if a.priority), key=lambda a: a.t)
    for a in reversed(adv):
        host = names.get(a.src)
        if host in daemons:
            return host
    return None


def _inject(
    f: Fault,
    nemesis: Nemesis,
    lab: Lab,
    daemons: dict[str, Daemon],
    routers: list[str],
    captures: list[Capture],
    names: dict[str, str],
    progress: _Progress,
    scenario: Scenario,
    resolved: dict[tuple[int, float], str],
) -> None:
    """Inject ``f`` now; ``resolved`` remembers which host each selector hit, by (line, at)."""

    def resolve(target: str | None) -> str:
        if target not in SELECTORS:
            assert target is not None
            return target
        master = _master(lab, daemons, captures, names)
        if target == "master":
            if master is None:
                raise RunError(f"{scenario.path}:{f.line}: no master to aim '{f.kind}' at")
            return master
        backups = [r for r in routers if r != master and daemons[r].running()]
        if not backups:
            raise RunError(f"{scenario.path}:{f.line}: no backup to aim '{f.kind}' at")
        return backups[0]

    host: str | None = None
    if f.target is not None:
        if f.target in SELECTORS and f.lifts_at is not None:  # lift what the fault itself hit
            host = resolved.get((f.line, f.lifts_at))
        if host is None:
            host = resolve(f.target)
        resolved[(f.line, f.at)] = host
    text = f.describe() + (f" ({host})" if f.target in SELECTORS else "")
    try:
        text += nemesis.apply(f, host, resolve)
    except NemesisError as exc:
        raise RunError(f"{scenario.path}:{f.line}: {exc}") from None
    if f.kind == "start":
        daemons[_must(host)].wait_ready(READY_S)
    progress.say(f"fault at {f.at:g} s: {text}")


def _must(host: str | None) -> str:
    if host is None:
        raise RunError("a fault without a target")
    return host
