"""One fault script, two executors: the simulator and the real namespace lab run it and each writes a
:class:`~netns_lab.history.History`; :func:`compare` says where their state transitions disagree.

The lab runs first and records when each step really took effect (a daemon start takes as long as Python
needs to start; a kill or a file write is immediate); the simulator then replays the same steps at those
moments.  So the two histories share a clock, and every transition of one must appear in the other, in the
same order per router, within a tolerance that covers the daemon's reaction time.

The script is small on purpose: routers on one LAN running one VRRP instance, steps that start, crash and
restart a router or take a tracker down (a ``track_file`` whose weight lowers the priority; the simulator
models it as a state tracker of the same weight: a file holding 1 with weight W adds W, as a down tracker
with negative weight W does), and the nemesis's other faults (graceful stop, pause/resume, isolating a router
by a partition and healing it, loss, link down/up, reload, priority change), which
:mod:`netns_lab.schedules` draws at random.  Scenario files grow out of this; the comparison stays the same.

One fault the simulator does not model: a link going down (carrier loss) makes a real daemon's instance go
to FAULT; the simulator can only drop the node's frames.  :data:`SIM_UNMODELLED` names such steps so a
comparison can say why it skips them.
"""

from __future__ import annotations

import ipaddress
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, assert_never

from netns_lab.capture import Capture
from netns_lab.daemons import Daemon, DaemonSpec, Impl, instance_block, keepalived_conf, start_daemon
from netns_lab.history import FaultEvent, History
from netns_lab.lab import Lab
from netns_lab.lab_history import LabRecorder, VipWatcher
from netns_lab.nemesis import Nemesis
from netns_lab.sim import Simulation
from netns_lab.topology import Host, Link, Switch, Topology
from vrrp.core.config import RouterConfig
from vrrp.core.timers import US_PER_S
from vrrp.core.tracking import Tracker

__all__ = ["SIM_UNMODELLED", "LabRun", "Script", "ScriptRouter", "ScriptStep", "compare", "run_lab", "run_sim",
           "three_routers"]

StepKind = Literal["start", "crash", "restart", "tracker_down", "tracker_up", "stop", "pause", "resume",
                   "isolate", "heal", "loss", "clear_loss", "link_down", "link_up", "reload", "priority"]
#: the fault kind each step is recorded as in a history (the simulator's words)
_FAULT_KIND = {"start": "start", "crash": "crash", "restart": "restart", "tracker_down": "tracker",
               "tracker_up": "tracker"}
#: steps the simulator cannot reproduce faithfully, and why (a comparison reports them instead of failing)
SIM_UNMODELLED = {
    "link_down": "carrier loss puts a real daemon's instance in FAULT; the simulator only drops its frames",
}
TRACKER = "tf"
#: a pause step lasts until its resume step (the simulator's pause takes a duration; this is "until told")
_FOREVER_US = 10**15


@dataclass(frozen=True)
class ScriptRouter:
    """A router of the script: its name (the lab host), address on the LAN, priority, and the weight of its
    ``track_file`` (0: none)."""

    name: str
    address: str
    priority: int
    tracker_weight: int = 0


@dataclass(frozen=True)
class ScriptStep:
    """At ``at`` seconds from the start, do ``kind`` to router ``node``; ``value`` is the new priority
    (``priority``) or the drop probability (``loss``).  ``isolate`` partitions ``node`` from the others."""

    at: float
    kind: StepKind
    node: str
    value: float = 0.0


@dataclass(frozen=True)
class Script:
    """Routers sharing one VRRP instance (``vrid``, ``vip``, ``advert_int`` s, ``version``), the steps, and
    how long the run lasts."""

    routers: tuple[ScriptRouter, ...]
    steps: tuple[ScriptStep, ...]
    duration: float
    vrid: int = 51
    vip: str = "10.0.0.100"
    advert_int: float = 0.2
    version: int = 3

    def __post_init__(self) -> None:
        names = [r.name for r in self.routers]
        for s in self.steps:
            if s.node not in names:
                raise ValueError(f"step at {s.at:g} s: no router {s.node!r} (routers: {', '.join(names)})")
            if s.kind.startswith("tracker") and not self.router(s.node).tracker_weight:
                raise ValueError(f"step at {s.at:g} s: router {s.node!r} has no tracker")
        if list(self.steps) != sorted(self.steps, key=lambda s: s.at):
            raise ValueError("steps must be in time order")

    def router(self, name: str) -> ScriptRouter:
        return next(r for r in self.routers if r.name == name)

    def topology(self) -> Topology:
        return Topology(
            name="crosscheck",
            hosts=[Host(r.name) for r in self.routers],
            switches=[Switch("lan")],
            links=[Link(r.name, "lan", "eth0", [f"{r.address}/24"]) for r in self.routers],
        )

    def keepalived_conf(self, router: ScriptRouter, track_file: Path) -> str:
        """The keepalived.conf ``router`` runs in the lab."""
        track = ""
        extra = ""
        if router.tracker_weight:
            track = f'track_file {TRACKER} {{\n  file "{track_file}"\n  weight {router.tracker_weight}\n}}\n'
            extra = f"  track_file {{\n    {TRACKER}\n  }}\n"
        block = instance_block(vrid=self.vrid, priority=router.priority, advert_int=self.advert_int,
                               vips=(f"{self.vip}/24",), extra=extra, version=self.version)
        return keepalived_conf(track, block, router_id=router.name)

    def router_config(self, router: ScriptRouter) -> RouterConfig:
        """The same instance for the simulator."""
        trackers = (Tracker(TRACKER, weight=router.tracker_weight),) if router.tracker_weight else ()
        return RouterConfig(
            vrid=self.vrid,
            primary_address=ipaddress.ip_address(router.address),
            virtual_ipaddress=(ipaddress.ip_address(self.vip),),
            priority=router.priority,
            advert_int_cs=round(self.advert_int * 100),
            version=self.version,
            name="VI_1",
            trackers=trackers,
        )


def three_routers() -> Script:
    """Three routers: the Master crashes, returns and preempts, then a tracker lowers it below the next.

    Priorities 250 / 200 / 50 keep Skew_Time apart (RFC 9568 §6.1: the higher priority's Master_Down_Interval
    is shorter, here by 0.12 s) so the lab's takeovers are not a race; the tracker's -100 takes r1 to 150,
    below r2 but above r3.  r2 and r3 start once r1 is Master, so who wins the first election is not a race
    between Python start-up times either.
    """
    return Script(
        routers=(
            ScriptRouter("r1", "10.0.0.11", 250, tracker_weight=-100),
            ScriptRouter("r2", "10.0.0.12", 200),
            ScriptRouter("r3", "10.0.0.13", 50),
        ),
        steps=(
            ScriptStep(0.0, "start", "r1"),
            ScriptStep(3.0, "start", "r2"),
            ScriptStep(3.0, "start", "r3"),
            ScriptStep(6.0, "crash", "r1"),
            ScriptStep(8.0, "restart", "r1"),
            ScriptStep(11.0, "tracker_down", "r1"),
        ),
        duration=13.0,
    )


# ------------------------------------------------------------------ the two executors


@dataclass
class LabRun:
    """What :func:`run_lab` observed: the history, when each step took effect (µs on its clock), and when the
    run ended (µs; later than the script's duration when daemons were slow to start)."""

    history: History
    end: int = 0
    step_times: list[tuple[ScriptStep, int]] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)
    prefix: str = ""  # the lab's run prefix (its namespaces' names)


def run_lab(script: Script, *, impl: Impl = "pykeepalived", log_dir: Path | None = None,
            entry: Sequence[str] = ()) -> LabRun:
    """Run ``script`` with real daemons in a fresh lab (torn down afterwards, however it ends).

    Configs, pid files and logs go to ``log_dir``, or to a temporary directory removed afterwards (the logs
    come back in :attr:`LabRun.logs`).  ``entry`` replaces our daemon's command (a test variant, see
    :mod:`netns_lab.broken_daemon`).
    """
    if log_dir is None:
        with tempfile.TemporaryDirectory(prefix="netns-lab-crosscheck-") as tmp:
            return run_lab(script, impl=impl, log_dir=Path(tmp), entry=entry)
    names = {r.address: r.name for r in script.routers}
    with Lab(script.topology(), log_dir=log_dir) as lab, Capture.on_switch(lab) as cap, \
            VipWatcher(lab, [script.vip], hosts=[r.name for r in script.routers]) as vips:
        daemons: dict[str, Daemon] = {}
        files = {r.name: lab.log_dir / f"{r.name}.track" for r in script.routers}
        for f in files.values():
            f.write_text("0\n")
        recorder = LabRecorder()
        nemesis = Nemesis(lab, History(), lambda: recorder.us(time.time()))
        step_times: list[tuple[ScriptStep, int]] = []
        shift = 0.0  # how much later than scripted the run is, because daemons took long to start
        try:
            for at in sorted({s.at for s in script.steps}):
                time.sleep(max(0.0, recorder.t0 + shift + at - time.time()))
                group = [s for s in script.steps if s.at == at]
                started: list[tuple[ScriptStep, Daemon, float]] = []
                for step in group:  # steps of one moment start together: daemons start in parallel
                    if step.kind in ("start", "restart"):
                        d = daemons.get(step.node)
                        if d is None:
                            conf = script.keepalived_conf(script.router(step.node), files[step.node])
                            spec = DaemonSpec(step.node, conf, impl=impl, entry=tuple(entry))
                            d = daemons[step.node] = start_daemon(lab, spec)
                            nemesis.daemons[step.node] = d
                            nemesis.configs[step.node] = d.conf_path
                        else:
                            d.start()
                        started.append((step, d, time.time()))
                        continue
                    if step.kind in ("tracker_down", "tracker_up"):
                        t = time.time()
                        files[step.node].write_text("1\n" if step.kind == "tracker_down" else "0\n")
                        detail = f"{TRACKER} {'down' if step.kind == 'tracker_down' else 'up'}"
                        event = recorder.fault("tracker", step.node, detail, t=t)
                    else:
                        event = _nemesis_step(nemesis, script, step)
                    step_times.append((step, event.t))
                for step, d, spawned in started:
                    d.wait_ready(timeout=15)
                    event = recorder.fault(_FAULT_KIND[step.kind], step.node, t=_instances_started(d, spawned))
                    step_times.append((step, event.t))
                if started:  # the script's next step comes as long after these daemons run as it says
                    shift = max(shift, time.time() - recorder.t0 - at)
            end = recorder.t0 + shift + script.duration
            time.sleep(max(0.0, end - time.time()))
            recorder.faults.extend(nemesis.history.faults)
            history = recorder.history(daemons, adverts=cap.adverts(script.vrid), addresses=names,
                                       vip_samples=list(vips.samples))
        finally:
            nemesis.close()
        logs = {n: d.all_logs() for n, d in daemons.items()}
        for d in daemons.values():
            d.stop()
    return LabRun(history, recorder.us(end), step_times, logs, prefix=lab.prefix)


def _nemesis_step(nemesis: Nemesis, script: Script, step: ScriptStep) -> FaultEvent:
    """Carry out one fault step with the lab's nemesis; the event it recorded (on the recorder's clock)."""
    others = [r.name for r in script.routers if r.name != step.node]
    match step.kind:
        case "crash":
            return nemesis.kill(step.node)
        case "stop":
            return nemesis.terminate(step.node)
        case "pause":
            return nemesis.pause(step.node)
        case "resume":
            return nemesis.resume(step.node)
        case "isolate":
            return nemesis.partition([[step.node], others])
        case "heal":
            return nemesis.heal()
        case "loss":
            return nemesis.loss([step.node], step.value)[0]
        case "clear_loss":
            return nemesis.loss([step.node], 0.0)[0]
        case "link_down":
            return nemesis.link_down(step.node)
        case "link_up":
            return nemesis.link_up(step.node)
        case "reload":
            return nemesis.reload(step.node)
        case "priority":
            return nemesis.set_priority(step.node, round(step.value))
        case "start" | "restart" | "tracker_down" | "tracker_up":
            raise ValueError(f"{step.kind} is not a nemesis step")
        case _:
            assert_never(step.kind)


def _instances_started(d: Daemon, spawned: float) -> float:
    """When a (ready) daemon started its instances: its first logged state after ``spawned`` when the log has
    milliseconds (ours), else now."""
    now = time.time()
    if d.impl != "pykeepalived":
        return now
    logged = [lt.t for lt in d.transitions() if spawned - 0.001 <= lt.t <= now]
    return min(logged) if logged else now


def run_sim(
    script: Script, step_times: Sequence[tuple[ScriptStep, int]] | None = None, *, end: int | None = None,
    seed: int = 0,
) -> History:
    """Run ``script`` in the simulator, each step at its time in ``step_times`` (default: as scripted), until
    ``end`` µs (default: the script's duration)."""
    sim = Simulation(seed)
    for r in script.routers:
        sim.add_node(r.name, [script.router_config(r)])
    timed = list(step_times) if step_times is not None else [(s, round(s.at * US_PER_S)) for s in script.steps]
    for step, t in sorted(timed, key=lambda st: st[1]):
        sim.run_until_us(t)
        match step.kind:
            case "start":
                sim.start([step.node])
            case "crash":
                sim.crash(step.node)
            case "restart":
                sim.restart(step.node)
            case "tracker_down" | "tracker_up":
                sim.set_tracker(step.node, TRACKER, step.kind == "tracker_up")
            case "stop":
                sim.stop(step.node)
            case "pause":  # until its resume step
                sim.pause_us(step.node, _FOREVER_US)
            case "resume":
                sim.resume(step.node)
            case "isolate":
                sim.partition([step.node])
            case "heal":
                sim.heal()
            case "loss":
                sim.set_loss(step.node, step.value)
            case "clear_loss":
                sim.set_loss(step.node, 0.0)
            case "link_down":  # the nearest the simulator comes (see SIM_UNMODELLED)
                sim.set_loss(step.node, 1.0)
                sim.history.faults.append(FaultEvent(sim.now, "link-down", step.node))
            case "link_up":
                sim.set_loss(step.node, 0.0)
                sim.history.faults.append(FaultEvent(sim.now, "link-up", step.node))
            case "reload":  # the same configuration again: state is kept
                sim.history.faults.append(FaultEvent(sim.now, "reload", step.node))
            case "priority":
                sim.set_priority(step.node, round(step.value))
            case _:
                assert_never(step.kind)
    sim.run_until_us(round(script.duration * US_PER_S) if end is None else end)
    return sim.history


def compare(expected: History, actual: History, nodes: Sequence[str], *, tolerance: float) -> list[str]:
    """Where ``actual``'s transitions differ from ``expected``'s: per node the same (old, new) sequence, each
    within ``tolerance`` seconds of its counterpart.  Empty when they agree."""
    problems: list[str] = []
    tol = round(tolerance * US_PER_S)
    for node in nodes:
        exp = [t for t in expected.transitions if t.node == node]
        act = [t for t in actual.transitions if t.node == node]
        if expected.transitions_of(node) != actual.transitions_of(node):
            problems.append(
                f"{node}: transitions differ\n  expected: "
                + ", ".join(f"{t.old.value}->{t.new.value}@{t.t / US_PER_S:.3f}" for t in exp)
                + "\n  actual:   "
                + ", ".join(f"{t.old.value}->{t.new.value}@{t.t / US_PER_S:.3f}" for t in act)
            )
            continue
        for e, a in zip(exp, act, strict=True):
            if abs(e.t - a.t) > tol:
                problems.append(
                    f"{node}: {e.old.value}->{e.new.value} at {a.t / US_PER_S:.3f} s, expected "
                    f"{e.t / US_PER_S:.3f} s (+/- {tolerance:g} s)"
                )
    return problems
