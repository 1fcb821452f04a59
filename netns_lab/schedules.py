"""Random fault schedules (Hypothesis strategies) that run as crosscheck scripts, in the lab or the simulator.

A :class:`Schedule` is 2-3 routers on one LAN (VRRPv2 or v3, 0.1-1 s adverts, distinct priorities) and a list
of fault *episodes*: kill, graceful stop, pause, isolation by a partition, loss, link flap, reload or priority
change, aimed at the Master or at a Backup, each lifted after its drawn duration and followed by time to
recover.  Faults never overlap, which keeps the checkers' premises true: each takeover has one cause, and
after the last episode the highest-priority router must be Master again.

:meth:`Schedule.script` turns it into a :class:`~netns_lab.crosscheck.Script` (so
:func:`~netns_lab.crosscheck.run_lab` and :func:`~netns_lab.crosscheck.run_sim` run it; there is no second
runner), :func:`check` runs every checker that applies, and :func:`scenario_yaml` writes the schedule as a
scenario file (the format of :mod:`netns_lab.scenario`) that replays it with ``netns-lab run``.

Hypothesis shrinks a failing schedule toward fewer episodes, shorter durations, two routers and the first
fault kinds listed (kill before the subtler ones).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from hypothesis import settings
from hypothesis import strategies as st

from netns_lab.checks import CheckContext, Verdict, run_checks
from netns_lab.crosscheck import SIM_UNMODELLED, Script, ScriptRouter, ScriptStep, compare, run_lab, run_sim
from netns_lab.history import History
from netns_lab.lab_history import configured_instances
from netns_lab.measure import master_down_interval, skew_time
from netns_lab.scenario import Scenario, load_scenario

__all__ = ["EPISODE_KINDS", "SOAK_EXAMPLES", "Agreement", "Episode", "Schedule", "agreement", "assert_holds", "check",
           "expectations", "lab_examples", "scenario_yaml", "schedules"]

EpisodeKind = Literal["kill", "stop", "pause", "isolate", "loss", "link-flap", "reload", "priority"]
#: in shrinking order: Hypothesis prefers the first
EPISODE_KINDS: tuple[EpisodeKind, ...] = ("kill", "stop", "pause", "isolate", "loss", "link-flap", "reload",
                                          "priority")  # fmt: skip
US = 1_000_000
#: the run goes on this long after the last fault has settled (a lab step lands a few ms late)
_END_MARGIN_S = 0.5


@dataclass(frozen=True)
class Episode:
    """One fault aimed at the Master (``role`` master) or the lowest-priority Backup, held ``duration`` s.
    ``value``: the drop probability (loss) or the priority it is set to (priority; restored afterwards)."""

    kind: EpisodeKind
    role: Literal["master", "backup"]
    duration: float
    value: float = 0.0

    def describe(self) -> str:
        extra = f" {self.value:g}" if self.kind in ("loss", "priority") else ""
        return f"{self.kind}{extra} {self.role} for {self.duration:g} s"


@dataclass(frozen=True)
class Schedule:
    """Routers ``r1``.. with ``priorities`` (highest first), their VRRP ``version`` and ``advert_int``, the
    episodes, and the simulator's ``seed``."""

    priorities: tuple[int, ...]
    version: int
    advert_int: float
    episodes: tuple[Episode, ...]
    seed: int = 0

    @property
    def names(self) -> list[str]:
        return [f"r{i + 1}" for i in range(len(self.priorities))]

    @property
    def mdi(self) -> float:
        """The slowest Master_Down_Interval of the routers (the lowest priority's), s."""
        return master_down_interval(self.version, min(self.priorities), self.advert_int)

    @property
    def start_gap(self) -> float:
        """The top router starts alone and is Master before the others start: no start-up race."""
        return round(master_down_interval(self.version, self.priorities[0], self.advert_int) + 0.5, 3)

    @property
    def settle(self) -> float:
        """How long after a fault is lifted the routers must have converged: a Master_Down_Interval (the
        lowest priority's) for a takeover, then an advert interval and margin for the top router's preemption."""
        return round(self.mdi + 2 * self.advert_int + 1.0, 3)

    @property
    def settled_at(self) -> float:
        """When the first fault may strike: every router runs and the top one is Master."""
        return round(self.start_gap + self.settle, 3)

    def target(self, ep: Episode) -> str:
        return self.names[0] if ep.role == "master" else self.names[-1]

    def timed(self) -> list[tuple[float, Episode]]:
        """Each episode with the time it strikes (s from the run's start)."""
        out = []
        t = self.settled_at
        for ep in self.episodes:
            out.append((round(t, 3), ep))
            t += (0.0 if ep.kind == "reload" else ep.duration) + self.settle
        return out

    @property
    def duration(self) -> float:
        """The run's length: the last episode lifted plus time to settle, plus a margin for the lab's steps
        taking effect a little later than scheduled."""
        t = self.settled_at
        for ep in self.episodes:
            t += (0.0 if ep.kind == "reload" else ep.duration) + self.settle
        return round(t + _END_MARGIN_S, 3)

    def script(self) -> Script:
        routers = tuple(ScriptRouter(n, f"10.0.0.{11 + i}", p)
                        for i, (n, p) in enumerate(zip(self.names, self.priorities, strict=True)))
        steps = [ScriptStep(0.0, "start", self.names[0])]
        steps += [ScriptStep(self.start_gap, "start", n) for n in self.names[1:]]
        for at, ep in self.timed():
            node = self.target(ep)
            lift = round(at + ep.duration, 3)
            match ep.kind:
                case "kill":
                    steps += [ScriptStep(at, "crash", node), ScriptStep(lift, "restart", node)]
                case "stop":
                    steps += [ScriptStep(at, "stop", node), ScriptStep(lift, "restart", node)]
                case "pause":
                    steps += [ScriptStep(at, "pause", node), ScriptStep(lift, "resume", node)]
                case "isolate":
                    steps += [ScriptStep(at, "isolate", node), ScriptStep(lift, "heal", node)]
                case "loss":
                    steps += [ScriptStep(at, "loss", node, ep.value), ScriptStep(lift, "clear_loss", node)]
                case "link-flap":
                    steps += [ScriptStep(at, "link_down", node), ScriptStep(lift, "link_up", node)]
                case "reload":
                    steps.append(ScriptStep(at, "reload", node))
                case "priority":
                    before = self.priorities[self.names.index(node)]
                    steps += [ScriptStep(at, "priority", node, ep.value), ScriptStep(lift, "priority", node, before)]
        return Script(routers=routers, steps=tuple(steps), duration=self.duration, advert_int=self.advert_int,
                      version=self.version)  # fmt: skip

    def describe(self) -> str:
        eps = "; ".join(f"{at:g} s {ep.describe()}" for at, ep in self.timed()) or "no faults"
        return (f"{len(self.priorities)} routers {list(self.priorities)}, VRRPv{self.version}, adverts every "
                f"{self.advert_int:g} s, seed {self.seed}: {eps}")  # fmt: skip


@st.composite
def schedules(
    draw: st.DrawFn,
    *,
    kinds: Sequence[EpisodeKind] = EPISODE_KINDS,
    max_episodes: int = 3,
    min_episodes: int = 0,
    advert_ints: Sequence[float] = (0.1, 0.2, 0.5, 1.0),
    max_duration: float = 4.0,
    versions: Sequence[int] = (3, 2),
    roles: Sequence[Literal["master", "backup"]] = ("master", "backup"),
) -> Schedule:
    """Draw a :class:`Schedule`.  VRRPv2 only advertises whole seconds (RFC 3768 §5.3.7), so a v2 schedule
    gets 1 s adverts.  Durations are tenths of a second (they shrink toward 0.1 s; a killed Master stays down
    at least a Backup's Master_Down_Interval plus an advert interval longer)."""
    version = draw(st.sampled_from(list(versions)))
    advert = 1.0 if version == 2 else draw(st.sampled_from(list(advert_ints)))
    n = draw(st.integers(2, 3))
    prios = draw(st.lists(st.integers(1, 254), min_size=n, max_size=n, unique=True))
    priorities = tuple(sorted(prios, reverse=True))
    episodes = []
    for _ in range(draw(st.integers(min_episodes, max_episodes))):
        kind = draw(st.sampled_from(list(kinds)))
        role = draw(st.sampled_from(list(roles)))
        duration = draw(st.integers(1, round(max_duration * 10))) / 10
        if kind == "reload":
            duration = 0.1  # instant: the duration means nothing (and must not vary between equal schedules)
        if kind == "kill" and role == "master":
            # long enough for a takeover: a Master restarted sooner wins its own election back (its
            # Master_Down_Interval is the shortest), leaving nothing for failover_gap to judge
            mdi = master_down_interval(version, priorities[1], advert)
            duration = round(mdi + advert + duration, 1)
        value = 0.0
        if kind == "loss":
            value = draw(st.sampled_from([1.0, 0.5, 0.2]))
        elif kind == "priority":
            value = float(draw(st.integers(1, 254).filter(lambda p: p not in priorities)))
        episodes.append(Episode(kind, role, duration, value))
    seed = draw(st.integers(0, 2**32 - 1))
    return Schedule(priorities, version, advert, tuple(episodes), seed)


# ------------------------------------------------------------------ what to check


def expectations(s: Schedule, *, failover_tolerance: float | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Every checker of :mod:`netns_lab.checks` whose premises the schedule meets, with its parameters:

    * ``one_master``, ``dual_master_only_under_fault``, ``final_master`` (the top router, all faults lifted):
      always;
    * ``failover_gap``: when a Master is killed, stopped or paused (the only faults it measures);
    * ``transitions_per_fault`` (each router may become master once per fault): unless frames are lost at
      random (partial loss may legitimately flap);
    * ``client_outage`` needs a workload and ``no_master_change`` a run without faults: never here.
    """
    out: list[tuple[str, dict[str, Any]]] = [("one_master", {}), ("dual_master_only_under_fault", {}),
                                             ("final_master", {"host": s.names[0]})]  # fmt: skip
    if any(ep.kind in ("kill", "stop", "pause") and ep.role == "master" for ep in s.episodes):
        out.append(("failover_gap", {} if failover_tolerance is None else {"tolerance": failover_tolerance}))
    if not any(ep.kind == "loss" and ep.value < 1 for ep in s.episodes):
        # each router may become master once per fault: two Backups whose Skew_Times differ by less than the
        # LAN's delay may both take over after a priority-0 advert (RFC-legal), and the returning top one then
        # preempts (found by this strategy: priorities 115/114/113, a 0.1 s stop of the Master)
        out.append(("transitions_per_fault", {"max": max(2, len(s.priorities))}))
    return out


def context(s: Schedule, end_us: int) -> CheckContext:
    return CheckContext(end=end_us, settle=round(s.settle * US), advert_interval_s=s.advert_int,
                        version=s.version, routers=tuple(s.names))  # fmt: skip


def check(s: Schedule, history: History, end_us: int, *, failover_tolerance: float | None = None) -> list[Verdict]:
    """Every applicable checker's verdict on one run of ``s`` (see :func:`expectations`)."""
    return run_checks(history, context(s, end_us), expectations(s, failover_tolerance=failover_tolerance))


# ------------------------------------------------------------------ as a scenario file

_FAULT: dict[EpisodeKind, str] = {"kill": "kill", "stop": "stop", "pause": "pause", "isolate": "partition",
                                  "loss": "loss", "link-flap": "link-down", "reload": "reload",
                                  "priority": "priority"}  # fmt: skip


def scenario_yaml(s: Schedule, *, name: str | None = None, failover_tolerance: float | None = None) -> str:
    """The schedule as a scenario file: the same topology, configs, faults (times after settling, with their
    durations), run length and checks; ``netns-lab run`` replays it."""
    script = s.script()
    routers = {r.name: {"config": script.keepalived_conf(r, _NO_TRACK)} for r in script.routers}
    faults: list[dict[str, Any]] = []
    for at, ep in s.timed():
        f: dict[str, Any] = {"at": round(at - s.settled_at, 3), "fault": _FAULT[ep.kind]}
        target = s.target(ep)
        if ep.kind == "isolate":
            f["groups"] = [[target]]
        elif ep.kind == "loss":
            f["targets"] = [target]
            f["probability"] = ep.value
        else:
            f["target"] = target
        if ep.kind == "priority":
            f["priority"] = round(ep.value)
            faults.append(f)
            before = s.priorities[s.names.index(target)]
            f = {"at": round(at - s.settled_at + ep.duration, 3), "fault": "priority", "target": target,
                 "priority": before, "note": "restored"}  # fmt: skip
        elif ep.kind != "reload":
            f["duration"] = ep.duration
        faults.append(f)
    doc: dict[str, Any] = {
        "name": name or f"drawn-{s.seed}",
        "description": f"Drawn by Hypothesis (netns_lab.schedules): {s.describe()}",
        "topology": script.topology().to_dict(),
        "routers": routers,
        "faults": faults,
        "duration": round(s.duration - s.settled_at, 3),
        "settle": s.settle,
        "expect": [{"check": c, **p} for c, p in expectations(s, failover_tolerance=failover_tolerance)],
    }
    return yaml.safe_dump(doc, sort_keys=False, width=120)


_NO_TRACK = Path("/nonexistent")  # routers of a drawn schedule track no file


# ------------------------------------------------------------------ running one drawn schedule

#: ``--hypothesis-profile soak`` (registered by the test suite's conftest) runs this many examples
SOAK_EXAMPLES = 200
#: examples per lab test in CI (each is a real run of tens of seconds)
CI_LAB_EXAMPLES = 2
#: how far a lab takeover may lie from the RFC's bound beyond one advert interval: the daemon's reaction,
#: scheduling on a loaded machine, and the capture's timestamps
LAB_REACTION_S = 0.1


def lab_examples() -> int:
    """Examples for a lab test: :data:`CI_LAB_EXAMPLES`, or :data:`SOAK_EXAMPLES` under a soak profile."""
    n = settings.default.max_examples if settings.default is not None else 0
    return SOAK_EXAMPLES if n >= SOAK_EXAMPLES else CI_LAB_EXAMPLES


def assert_holds(
    s: Schedule, *, failure_dir: Path, entry: Sequence[str] = (), executor: Literal["lab", "sim"] = "lab",
    prefixes: list[str] | None = None,
) -> tuple[History, int]:
    """Run ``s`` (in the lab or the simulator) and check it; on a failed verdict, write the schedule as a
    scenario file into ``failure_dir`` and raise AssertionError naming the seed, the file and the evidence.
    Returns the history and the run's end (µs); the lab's run prefix is appended to ``prefixes`` if given."""
    if executor == "lab":
        run = run_lab(s.script(), entry=entry)
        history, end = run.history, run.end
        if prefixes is not None:
            prefixes.append(run.prefix)
        tol: float | None = s.advert_int + LAB_REACTION_S
    else:
        end = round(s.duration * US)
        history, tol = run_sim(s.script(), seed=s.seed), None
    verdicts = check(s, history, end, failover_tolerance=tol)
    bad = [v for v in verdicts if not v.ok]
    if bad:
        failure_dir.mkdir(parents=True, exist_ok=True)
        path = failure_dir / f"drawn-{s.seed}.yaml"
        path.write_text(scenario_yaml(s, failover_tolerance=tol))
        lines = [f"drawn schedule failed in the {executor} (seed {s.seed}): {s.describe()}",
                 f"replay: netns-lab run {path}"]  # fmt: skip
        for v in bad:
            lines.append(str(v))
            lines += [f"    {e}" for e in v.evidence]
        lines += ["", history.timeline()]
        raise AssertionError("\n".join(lines))
    return history, end


@dataclass(frozen=True)
class Agreement:
    """How a simulated run of a schedule compares with its lab run: ``problems`` (disagreements the models
    cannot explain) and ``caveats`` (where they may legitimately differ, and why; a caveated schedule's
    transitions are not compared)."""

    problems: tuple[str, ...]
    caveats: tuple[str, ...]
    verdicts_lab: tuple[Verdict, ...]
    verdicts_sim: tuple[Verdict, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


#: how far a tie may be from a tie and still go either way in the lab: timer and scheduling jitter
TIE_JITTER_S = 0.05


def caveats(s: Schedule) -> list[str]:
    """Why the lab and the simulator may legitimately disagree on ``s`` (empty: they must agree)."""
    out = []
    for at, ep in s.timed():
        if ep.kind == "link-flap":
            out.append(f"{at:g} s link flap: {SIM_UNMODELLED['link_down']}")
        if ep.kind == "loss" and ep.value < 1:
            out.append(f"{at:g} s loss {ep.value:g}: which frames drop is random, differently in each")
        if ep.kind == "pause" and ep.role == "master":
            mdi = master_down_interval(s.version, s.priorities[1], s.advert_int)
            if mdi - s.advert_int - TIE_JITTER_S <= ep.duration <= mdi + TIE_JITTER_S:
                out.append(f"{at:g} s pause of {ep.duration:g} s: within one advert interval of the Backup's "
                           f"Master_Down_Interval ({mdi:.3f} s), so whether it takes over depends on the phase "
                           "of the Master's advert timer")  # fmt: skip
    if len(s.priorities) == 3:
        gap = abs(skew_time(s.version, s.priorities[1], s.advert_int)
                  - skew_time(s.version, s.priorities[2], s.advert_int))  # fmt: skip
        if gap < TIE_JITTER_S:
            out.append(f"the two Backups' Master_Down_Intervals differ by {gap * 1000:.1f} ms (< "
                       f"{TIE_JITTER_S * 1000:g} ms of jitter): either may win a takeover race first")  # fmt: skip
    return out


def agreement(s: Schedule, lab_history: History, lab_end: int, sim_history: History, *,
              tolerance: float) -> Agreement:  # fmt: skip
    """Compare a lab run and a simulated run of ``s`` (the simulator replayed the lab's step times): the same
    verdict from every checker, and, unless :func:`caveats` says they may differ, the same transitions per
    router each within ``tolerance`` s."""
    tol = s.advert_int + LAB_REACTION_S
    v_lab = tuple(check(s, lab_history, lab_end, failover_tolerance=tol))
    v_sim = tuple(check(s, sim_history, lab_end, failover_tolerance=tol))
    problems = [f"{a.check}: lab {'PASS' if a.ok else 'FAIL'} ({a.summary}), simulator "
                f"{'PASS' if b.ok else 'FAIL'} ({b.summary})" for a, b in zip(v_lab, v_sim, strict=True)
                if a.ok != b.ok]  # fmt: skip
    why = caveats(s)
    if not why:
        problems += compare(sim_history, lab_history, s.names, tolerance=tolerance)
    return Agreement(tuple(problems), tuple(why), v_lab, v_sim)


# ------------------------------------------------------------------ replaying a printed schedule

_KIND: dict[str, EpisodeKind] = {v: k for k, v in _FAULT.items()}


def from_scenario(sc: Scenario) -> Schedule:
    """The drawn schedule a :func:`scenario_yaml` file holds (so it replays in the simulator and in the lab by
    :func:`replay` without the scenario runner).  Raises ValueError naming the file when it is not one."""
    where = str(sc.path)
    confs = [configured_instances(r.config) for r in sc.routers]
    if any(len(c) != 1 for c in confs):
        raise ValueError(f"{where}: not a drawn schedule (each router runs one instance)")
    text = sc.routers[0].config
    advert = float(_word(text, "advert_int", "1"))
    version = int(_word(text, "version", "3"))
    priorities = tuple(next(iter(c.values())).priority for c in confs)
    names = [r.host for r in sc.routers]
    episodes: list[Episode] = []
    faults = list(sc.faults)
    i = 0
    while i < len(faults):
        f = faults[i]
        kind = _KIND.get(f.kind)
        target = f.target or (f.targets[0] if f.targets else (f.groups[0][0] if f.groups else ""))
        if kind is None or target not in names:
            raise ValueError(f"{where}:{f.line}: fault {f.kind} is not one a drawn schedule holds")
        role: Literal["master", "backup"] = "master" if target == names[0] else "backup"
        if kind == "priority":
            restore = faults[i + 1] if i + 1 < len(faults) else None
            if restore is None or restore.kind != "priority":
                raise ValueError(f"{where}:{f.line}: a drawn priority change is followed by its restoring")
            episodes.append(Episode("priority", role, round(restore.at - f.at, 3), float(f.priority or 0)))
            i += 2
            continue
        value = (f.probability or 0.0) if kind == "loss" else 0.0
        episodes.append(Episode(kind, role, f.duration or 0.1, value))
        i += 1
    seed = int(sc.name.rsplit("-", 1)[-1]) if sc.name.rsplit("-", 1)[-1].isdigit() else 0
    s = Schedule(priorities, version, advert, tuple(episodes), seed)
    got = [round(f.at, 3) for f in sc.faults if f.note != "restored"]
    want = [round(at - s.settled_at, 3) for at, _ in s.timed()]
    if got != want:
        raise ValueError(f"{where}: fault times {got} are not a drawn schedule's ({want})")
    return s


def _word(text: str, key: str, default: str) -> str:
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == key:
            return words[1]
    return default


def replay(path: str | Path, *, executor: Literal["lab", "sim"] = "sim", entry: Sequence[str] = ()) -> list[Verdict]:
    """Run the drawn schedule of a scenario file again (in the simulator or the lab); the verdicts."""
    s = from_scenario(load_scenario(path))
    tol = s.advert_int + LAB_REACTION_S if executor == "lab" else None
    if executor == "lab":
        run = run_lab(s.script(), entry=entry)
        return check(s, run.history, run.end, failover_tolerance=tol)
    return check(s, run_sim(s.script(), seed=s.seed), round(s.duration * US))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m netns_lab.schedules FILE [--executor sim|lab]``: replay a printed schedule; exit 1 on a
    failed verdict."""
    ap = argparse.ArgumentParser(prog="python -m netns_lab.schedules", description=main.__doc__)
    ap.add_argument("file", help="a scenario file written for a drawn schedule")
    ap.add_argument("--executor", choices=["sim", "lab"], default="sim")
    args = ap.parse_args(argv)
    try:
        verdicts = replay(args.file, executor=args.executor)
    except (ValueError, OSError) as exc:
        print(f"netns_lab.schedules: {exc}", file=sys.stderr)
        return 2
    for v in verdicts:
        print(v)
        for e in v.evidence:
            print(f"    {e}")
    return 0 if all(v.ok for v in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
