"""Checkers over a run's history (Jepsen style): small named functions, each a verdict with its evidence.

Each checker reads only the :class:`~netns_lab.history.History` and a :class:`CheckContext` (when the run
ended, how long faults take to settle, the advertisement interval), so it judges the simulator's runs and the
lab's alike, and each is tested over hand-made histories that must pass *and* must fail. The names are the
``check:`` values of a scenario's ``expect`` list.

Bounds come from the RFC: Master_Down_Interval = 3 * Advertisement_Interval + Skew_Time (RFC 9568 §6.1;
RFC 3768 for VRRPv2), the time a backup waits after the master's last advert before it takes over.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netns_lab.history import FaultSpan, History, IpvsSample
from netns_lab.measure import master_down_interval, skew_time
from netns_lab.scenario.schema import CHECK_PARAMS
from vrrp.core.state import State

__all__ = ["CHECKS", "CheckContext", "Verdict", "run_checks"]

US = 1_000_000
#: faults during which two masters are expected: the routers cannot hear each other
_APART = ("partition", "pause", "loss", "link-down")


@dataclass(frozen=True)
class CheckContext:
    """What the checkers need besides the history. Times in µs (the history's unit) unless named ``_s``.

    ``end``: when the run ended; ``settle``: how long after the last fault the routers must have converged;
    ``advert_interval_s`` and ``version``: the routers' VRRP settings (for Master_Down_Interval);
    ``settled``: when the start-up election was over and the scenario began (what happened before it, such as
    a higher-priority router that started late preempting, is no change the scenario caused)."""

    end: int
    settle: int
    advert_interval_s: float = 1.0
    version: int = 3
    routers: tuple[str, ...] = ()
    settled: int = 0
    #: LVS: real-server host -> keepalived's detection bound in s from the config (None: no checker), and the
    #: hosts of the sorry servers
    real_servers: Mapping[str, float | None] = field(default_factory=dict)
    sorry_servers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (:meth:`from_dict` reads it back)."""
        return {
            "end": self.end,
            "settle": self.settle,
            "advert_interval_s": self.advert_interval_s,
            "version": self.version,
            "routers": list(self.routers),
            "settled": self.settled,
            "real_servers": dict(self.real_servers),
            "sorry_servers": list(self.sorry_servers),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CheckContext:
        return cls(
            end=int(d["end"]),
            settle=int(d["settle"]),
            advert_interval_s=float(d.get("advert_interval_s", 1.0)),
            version=int(d.get("version", 3)),
            routers=tuple(d.get("routers", ())),
            settled=int(d.get("settled", 0)),
            real_servers=dict(d.get("real_servers", {})),
            sorry_servers=tuple(d.get("sorry_servers", ())),
        )

    @property
    def mdi_us(self) -> int:
        """Master_Down_Interval of the lowest possible priority: the slowest takeover the RFC allows."""
        return round(master_down_interval(self.version, 1, self.advert_interval_s) * US)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one checker: ``ok``, one line saying why, the evidence, and figures for the report."""

    check: str
    ok: bool
    summary: str
    evidence: tuple[str, ...] = ()
    figures: Mapping[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'} {self.check}: {self.summary}"


def _s(us: int) -> str:
    return f"{us / US:.3f} s"


def _vrids(h: History) -> list[int]:
    return sorted({t.vrid for t in h.transitions})


def _master_intervals(h: History, vrid: int, end: int) -> dict[str, list[tuple[int, int]]]:
    """Master intervals, ended at a crash or stop of the node if nothing recorded their end (a killed daemon
    logs nothing, and keepalived logs no state change when it stops: their last word is the fault the nemesis
    recorded)."""
    out = h.master_intervals(vrid, end=end)
    crashes: dict[str, list[int]] = {}
    for f in h.faults:
        if f.kind in ("crash", "stop") and f.node:
            crashes.setdefault(f.node, []).append(f.t)
    for node, ivs in out.items():
        fixed = []
        for start, stop in ivs:
            cut = min((t for t in crashes.get(node, []) if start <= t < stop), default=stop)
            fixed.append((start, cut))
        out[node] = fixed
    return out


def _masters_over(ivs: Mapping[str, Sequence[tuple[int, int]]], lo: int, hi: int) -> list[tuple[int, int, set[str]]]:
    """Split [lo, hi) into pieces with a constant set of masters."""
    cuts = {lo, hi}
    for spans in ivs.values():
        for a, b in spans:
            cuts.update(x for x in (a, b) if lo < x < hi)
    points = sorted(cuts)
    out = []
    for a, b in itertools.pairwise(points):
        who = {n for n, spans in ivs.items() if any(s <= a and b <= e for s, e in spans)}
        out.append((a, b, who))
    return out


def _at_end(spans: Sequence[tuple[int, int]], end: int) -> bool:
    """An interval that covers the end of the run (a history may go on after ``end``: teardown)."""
    return any(s < end <= e for s, e in spans)


def _down_at(spans: Iterable[FaultSpan], node: str, t: int) -> bool:
    return any(s.kind in ("crash", "stop") and s.node == node and s.start <= t < s.stop for s in spans)


def _last_fault(h: History) -> int:
    return max((f.t for f in h.faults), default=0)


# ---------------------------------------------------------------------------------------------- checkers
def one_master(h: History, ctx: CheckContext) -> Verdict:
    """After the last fault has settled, exactly one master per VRID and exactly one (running) VIP holder."""
    name = "one_master"
    since = _last_fault(h) + ctx.settle
    if since > ctx.end:
        return Verdict(name, False, f"the run ended {_s(since - ctx.end)} before the last fault had settled")
    if not h.transitions:
        return Verdict(name, False, "no state transitions recorded: no router ever ran")
    spans = h.fault_spans(end=ctx.end)
    evidence: list[str] = []
    finals: list[str] = []
    for vrid in _vrids(h):
        for a, b, who in _masters_over(_master_intervals(h, vrid, ctx.end), since, ctx.end):
            if len(who) != 1:
                evidence.append(f"VRID {vrid}: {len(who)} masters {sorted(who)} from {_s(a)} to {_s(b)}")
        final = sorted(n for n, ivs in _master_intervals(h, vrid, ctx.end).items() if _at_end(ivs, ctx.end))
        finals.append(f"VRID {vrid}: {', '.join(final) or 'none'}")
    # the sample in force when the check starts, then every change after it (observers sample on change)
    before = [s for s in h.vip_holders if s.t <= since]
    samples = before[-1:] + [s for s in h.vip_holders if s.t > since]
    for smp in samples:
        at = max(smp.t, since)
        running = [n for n in smp.holders if not _down_at(spans, n, at)]
        if len(running) != 1:
            left = sorted(set(smp.holders) - set(running))
            extra = f" (left behind by stopped daemons: {left})" if left else ""
            evidence.append(f"{smp.vip} held by {running or 'nobody'} at {_s(at)}{extra}")
    if not h.vip_holders:  # the simulator records VIP changes instead of samples
        held: dict[str, bool] = {}
        for v in h.vip_changes:
            if v.t <= since:
                held[v.node] = v.held
        holders = sorted(n for n, on in held.items() if on)
        if h.vip_changes and len(holders) != 1:
            evidence.append(f"VIPs held by {holders or 'nobody'} at {_s(since)}")
        for v in h.vip_changes:
            if v.t > since:
                evidence.append(f"VIP {'added on' if v.held else 'removed from'} {v.node} at {_s(v.t)} after settling")
    ok = not evidence
    summary = f"one master from {_s(since)} on ({'; '.join(finals)})" if ok else f"{len(evidence)} violation(s)"
    return Verdict(name, ok, summary, tuple(evidence[:20]), {"checked_from_s": since / US})


def dual_master_only_under_fault(h: History, ctx: CheckContext, grace: float | None = None) -> Verdict:
    """Two masters at once only while a partition, pause, loss or link-down holds them apart, and for at most
    ``grace`` s after it is lifted (default: one advert interval + 0.5 s, the time for the higher router's
    next advert to arrive); shorter overlaps (a preemption hand-over) are allowed anywhere."""
    name = "dual_master_only_under_fault"
    grace_us = round((ctx.advert_interval_s + 0.5 if grace is None else grace) * US)
    spans = [s for s in h.fault_spans(end=ctx.end) if s.kind in _APART]
    evidence = []
    longest = 0
    for vrid in _vrids(h):
        ivs = _master_intervals(h, vrid, ctx.end)
        pieces = [(a, b, who) for a, b, who in _masters_over(ivs, 0, ctx.end) if len(who) >= 2]
        merged: list[tuple[int, int, set[str]]] = []
        for a, b, who in pieces:
            if merged and merged[-1][1] == a:
                merged[-1] = (merged[-1][0], b, merged[-1][2] | who)
            else:
                merged.append((a, b, set(who)))
        for a, b, who in merged:
            longest = max(longest, b - a)
            if b - a <= grace_us:
                continue
            cover = [s for s in spans if s.start <= a + grace_us and b <= s.stop + grace_us]
            if not cover:
                evidence.append(
                    f"VRID {vrid}: {sorted(who)} both master from {_s(a)} to {_s(b)} ({_s(b - a)}) "
                    f"with no partition/pause holding them apart"
                )
    ok = not evidence
    summary = (
        f"longest dual-master window {_s(longest)}, each explained by a fault" if ok else f"{len(evidence)} window(s)"
    )
    return Verdict(name, ok, summary, tuple(evidence), {"longest_dual_master_s": longest / US})


def _failovers(h: History, ctx: CheckContext) -> list[tuple[FaultSpan, str, int, str | None, int | None, int]]:
    """(fault, old master, last advert of it, new master, its first advert, its priority) per fault that took
    a master away (crash, stop, pause)."""
    out: list[tuple[FaultSpan, str, int, str | None, int | None, int]] = []
    for span in h.fault_spans(end=ctx.end):
        if span.kind not in ("crash", "stop", "pause") or span.node is None:
            continue
        node = span.node
        for vrid in _vrids(h):
            ivs = _master_intervals(h, vrid, ctx.end)
            wire = [a for a in h.adverts if a.vrid == vrid and a.priority]
            before = [a for a in wire if a.t <= span.start]
            on_wire = bool(before) and before[-1].node == node
            if not on_wire and not any(s <= span.start <= e and s < e for s, e in ivs.get(node, [])):
                continue  # it was not master: nothing to take over
            if span.kind == "stop":  # the clock starts at its goodbye (priority-0) advert
                bye = [
                    a.t for a in h.adverts if a.node == node and a.vrid == vrid and a.t >= span.start and not a.priority
                ]
                last = bye[0] if bye else span.start
            else:
                mine = [a.t for a in before if a.node == node]
                last = mine[-1] if mine else span.start
            # the takeover as the wire saw it: the first advert of another router after the fault (the lab's
            # kernel timestamps; a daemon's log may stamp its transition a moment after that advert left)
            horizon = span.start + 2 * ctx.mdi_us + US
            if span.kind == "pause":  # a paused master that resumed before anyone took over caused no takeover
                horizon = min(horizon, span.stop)
            taker = next((a for a in wire if a.node != node and span.start < a.t <= horizon), None)
            if taker is not None:
                out.append((span, node, last, taker.node, taker.t, taker.priority))
                continue
            until = span.stop if span.kind == "pause" else ctx.end + 1
            nxt = next(
                (
                    t
                    for t in h.transitions
                    if t.vrid == vrid and t.node != node and t.new is State.MASTER and span.start <= t.t < until
                ),
                None,
            )
            if nxt is None or wire:  # adverts were recorded and nobody else sent one: nobody took over
                out.append((span, node, last, None, None, 0))
            else:
                out.append((span, node, last, nxt.node, nxt.t, nxt.priority))
    return out


def failover_gap(h: History, ctx: CheckContext, tolerance: float | None = None) -> Verdict:
    """Each time a master crashed, stopped or paused, another router took over after the RFC's wait: the gap
    from the old master's last advert to the new master's first is Master_Down_Interval (crash, pause) or
    Skew_Time (graceful stop: priority-0 advert, RFC 9568 §6.4.2), within ``tolerance`` s (default: one
    advert interval)."""
    name = "failover_gap"
    tol = ctx.advert_interval_s if tolerance is None else tolerance
    found = _failovers(h, ctx)
    if not found:
        return Verdict(name, False, "no master was crashed, stopped or paused: nothing to measure")
    evidence = []
    figures: dict[str, float] = {}
    bad = 0
    for i, (span, old, last, new, first, prio) in enumerate(found):
        if new is None or first is None:
            if span.kind == "pause" and span.stop - span.start < ctx.mdi_us:
                evidence.append(f"{span.kind} of {old} at {_s(span.start)}: too short for a takeover (fine)")
                continue
            bad += 1
            evidence.append(f"{span.kind} of master {old} at {_s(span.start)}: no other router took over")
            continue
        p = max(1, min(prio, 254))
        bound = (
            skew_time(ctx.version, p, ctx.advert_interval_s)
            if span.kind == "stop"
            else master_down_interval(ctx.version, p, ctx.advert_interval_s)
        )
        gap = (first - last) / US
        within = abs(gap - bound) <= tol
        bad += not within
        what = "Skew_Time" if span.kind == "stop" else "Master_Down_Interval"
        evidence.append(
            f"{span.kind} of {old} at {_s(span.start)}: {new} (priority {prio}) took over after {gap:.3f} s; "
            f"{what} {bound:.3f} s, {'within' if within else 'OUTSIDE'} ±{tol:g} s"
        )
        figures[f"gap_{i}_s"] = gap
        figures[f"bound_{i}_s"] = bound
    ok = bad == 0
    summary = f"{len(found) - bad} of {len(found)} takeover(s) within the bound"
    return Verdict(name, ok, summary, tuple(evidence), figures)


def client_outage(h: History, ctx: CheckContext, max: float | None = None) -> Verdict:
    """The longest time clients saw no successful request (between two successes' start times, per target)
    stays within ``max`` s (default: Master_Down_Interval + one advert interval)."""
    name = "client_outage"
    bound = (ctx.mdi_us + round(ctx.advert_interval_s * US)) / US if max is None else max
    if not h.requests:
        return Verdict(name, False, "no client requests were recorded")
    worst = 0
    where = ""
    evidence = []
    for target in sorted({r.target for r in h.requests}):
        reqs = sorted((r for r in h.requests if r.target == target), key=lambda r: r.t)
        failed = [r for r in reqs if not r.ok]
        oks = [r.t for r in reqs if r.ok]
        if not oks:
            evidence.append(f"{target}: all {len(reqs)} requests failed")
            worst = ctx.end
            continue
        # an outage that starts before the first success or lasts until the end counts from/to the run's ends
        edges = ([reqs[0].t] if not reqs[0].ok else []) + oks + ([reqs[-1].t] if not reqs[-1].ok else [])
        for a, b in itertools.pairwise(edges):
            if b - a > worst and any(a < r.t < b or r.t == a for r in failed):
                worst, where = b - a, f"{target}: no success from {_s(a)} to {_s(b)}"
        errors = sorted({r.error for r in failed if r.error})
        evidence.append(
            f"{target}: {len(reqs) - len(failed)} ok, {len(failed)} failed"
            + (f" ({', '.join(errors[:3])})" if errors else "")
        )
    if where:
        evidence.insert(0, where)
    ok = worst / US <= bound
    summary = f"longest client-visible outage {worst / US:.3f} s, bound {bound:.3f} s"
    return Verdict(name, ok, summary, tuple(evidence), {"outage_s": worst / US, "bound_s": bound})


def transitions_per_fault(h: History, ctx: CheckContext, max: int = 2) -> Verdict:
    """No flapping: after each fault (until the next one) at most ``max`` routers become master, and between
    the first election and the first fault none does."""
    name = "transitions_per_fault"
    ups = sorted((t.t, t.node) for t in h.transitions if t.new is State.MASTER)
    if not ups:
        return Verdict(name, False, "no router ever became master")
    times = sorted({f.t for f in h.faults})
    evidence = []
    first_fault = times[0] if times else ctx.end
    quiet_from = ctx.settled or ups[0][0] + ctx.mdi_us
    quiet = [n for t, n in ups[1:] if quiet_from < t < first_fault]
    if quiet:
        evidence.append(f"{len(quiet)} master change(s) with no fault before the first one: {quiet[:5]}")
    worst = 0
    for i, t0 in enumerate(times):
        t1 = times[i + 1] if i + 1 < len(times) else ctx.end
        n = sum(1 for t, _ in ups if t0 <= t < t1)
        worst = n if n > worst else worst
        if n > max:
            kinds = [f.kind for f in h.faults if f.t == t0]
            evidence.append(f"{n} routers became master after {'/'.join(kinds)} at {_s(t0)} (allowed {max})")
    ok = not evidence
    return Verdict(
        name,
        ok,
        f"at most {worst} master change(s) per fault (allowed {max})",
        tuple(evidence),
        {"max_changes_per_fault": float(worst)},
    )


def final_master(h: History, ctx: CheckContext, host: str = "") -> Verdict:
    """At the end of the run ``host`` is master (of every VRID it runs), and no other router is."""
    name = "final_master"
    evidence = []
    for vrid in _vrids(h):
        ivs = _master_intervals(h, vrid, ctx.end)
        at_end = sorted(n for n, spans in ivs.items() if _at_end(spans, ctx.end))
        if at_end != [host] and any(t.node == host for t in h.transitions if t.vrid == vrid):
            evidence.append(f"VRID {vrid}: master at the end is {at_end or 'nobody'}, expected {host}")
    ok = not evidence and bool(h.transitions)
    return Verdict(
        name, ok, f"{host} is master at the end" if ok else "; ".join(evidence) or "no transitions", tuple(evidence)
    )


def no_master_change(h: History, ctx: CheckContext) -> Verdict:
    """Mastership never moved: one router became master once and stayed (loss it must ride out, nopreempt)."""
    name = "no_master_change"
    ups = [(t.t, t.node, t.vrid) for t in h.transitions if t.new is State.MASTER]
    downs = [(t.t, t.node, t.vrid) for t in h.transitions if t.old is State.MASTER]
    if ctx.settled:  # judged from when the scenario began: the start-up election is over by then
        later = [u for u in ups if u[0] > ctx.settled]
        downs = [d for d in downs if d[0] > ctx.settled]
    else:
        later = ups[len(_vrids(h)) :]
    evidence = [f"{n} became master of VRID {v} at {_s(t)}" for t, n, v in later]
    evidence += [f"{n} left master of VRID {v} at {_s(t)}" for t, n, v in downs if t < ctx.end]
    if not ups:
        evidence.append("no router ever became master")
    ok = not evidence
    return Verdict(name, ok, "mastership never moved" if ok else f"{len(evidence)} change(s)", tuple(evidence[:20]))


def _holders_at(h: History, vip: str, t: int, spans: Sequence[FaultSpan]) -> tuple[str, ...]:
    """The running hosts that had ``vip`` configured at ``t`` (netlink view; a killed daemon's left-over VIP
    does not count)."""
    last = None
    for s in h.vip_holders:
        if s.vip == vip and s.t <= t:
            last = s
    return tuple(sorted(n for n in (last.holders if last else ()) if not _down_at(spans, n, t)))


def client_view(h: History, ctx: CheckContext, grace: float = 0.5) -> Verdict:
    """After the last fault has settled, each client sees each VIP where the routers put it: the one running
    VIP holder (netlink) alone answers ARP / neighbour solicitation for it, and the client's neighbour entry,
    when it has one, is that holder's MAC. A disagreement shorter than ``grace`` s (a probe answered late) is
    let pass. Figure: how long after the last fault the clients' view last disagreed (``lag_s``)."""
    name = "client_view"
    if not h.client_views:
        return Verdict(name, False, "no client's view of a VIP was recorded (no client on a VIP's link?)")
    last = _last_fault(h)
    since = last + ctx.settle
    if since > ctx.end:
        return Verdict(name, False, f"the run ended {_s(since - ctx.end)} before the last fault had settled")
    spans = h.fault_spans(end=ctx.end)
    evidence: list[str] = []
    lag = 0
    for client, vip in sorted({(v.client, v.vip) for v in h.client_views}):
        views = [v for v in h.client_views if v.client == client and v.vip == vip]
        cuts = {last, ctx.end, *(v.t for v in views if last < v.t < ctx.end)}
        cuts |= {s.t for s in h.vip_holders if s.vip == vip and last < s.t < ctx.end}
        cuts |= {x for sp in spans for x in (sp.start, sp.stop) if last < x < ctx.end}
        bad: list[tuple[int, int, str]] = []
        for a, b in itertools.pairwise(sorted(cuts)):
            view = next((v for v in reversed(views) if v.t <= a), None)
            held = _holders_at(h, vip, a, spans)
            if view is None:
                why = "no view recorded yet"
            elif len(held) != 1:
                why = f"held by {list(held) or 'nobody'} (netlink)"
            elif tuple(n for n in view.answerers if not _down_at(spans, n, a)) != held:
                # a killed daemon's host still answers for the VIP it left behind: the netlink view does not
                # count it either (one_master); only its neighbour entry in a client is the client's problem
                why = f"answered by {list(view.answerers) or 'nobody'}, held by {held[0]}"
            elif view.neighbour not in (None, held[0]):
                why = f"{client}'s neighbour entry is {view.neighbour}'s MAC, held by {held[0]}"
            else:
                continue
            if bad and bad[-1][1] == a and bad[-1][2] == why:
                bad[-1] = (bad[-1][0], b, why)
            else:
                bad.append((a, b, why))
        for a, b, why in bad:
            lag = max(lag, b - last)
            if b > since and b - a > round(grace * US):
                evidence.append(f"{client} -> {vip}: {why} from {_s(a)} to {_s(b)}")
    ok = not evidence
    summary = (f"the clients' view agrees with the VIP holder from {_s(since)} on" if ok
               else f"{len(evidence)} disagreement(s) after settling")  # fmt: skip
    return Verdict(name, ok, summary, tuple(evidence[:20]), {"lag_s": lag / US})
# ------------------------------------------------------------------------------------------------ LVS
def _ipvs_by_node(h: History) -> dict[str, list[IpvsSample]]:
    out: dict[str, list[IpvsSample]] = {}
    for smp in sorted(h.ipvs, key=lambda x: x.t):
        out.setdefault(smp.node, []).append(smp)
    return out


def _table_at(samples: Sequence[IpvsSample], t: int) -> IpvsSample | None:
    """The sample in force at ``t`` (observers sample on change)."""
    before = [x for x in samples if x.t <= t]
    return before[-1] if before else None


def _server_outages(h: History, end: int) -> list[tuple[str, int, int | None]]:
    """(host, stopped at, started again at or None) for each real-server stop."""
    out: list[tuple[str, int, int | None]] = []
    for f in h.faults:
        if f.kind == "server-stop" and f.node:
            back = next((g.t for g in h.faults if g.kind == "server-start" and g.node == f.node and g.t > f.t), None)
            out.append((f.node, f.t, back if back is None or back <= end else None))
    return out


def _removal(samples: Sequence[IpvsSample], host: str, stopped: int, until: int) -> int | None:
    """When ``host`` left a director's table (or went to weight 0) after ``stopped``: the first sample without
    it, ``stopped`` itself if it had left already, None if it stayed until ``until``."""
    at_stop = _table_at(samples, stopped)
    if at_stop is not None and host not in at_stop.live():
        return stopped
    return next((x.t for x in samples if stopped < x.t <= until and host not in x.live()), None)


def real_server_removed(h: History, ctx: CheckContext, tolerance: float = 1.0) -> Verdict:
    """Each stopped real server leaves every running director's IPVS table (or goes to weight 0) within
    keepalived's detection bound, delay_loop + (retry + 1) * connect_timeout + retry * delay_before_retry (from
    the config), plus ``tolerance`` s; and a restarted one comes back before the run ends."""
    name = "real_server_removed"
    outages = [(host, t, back) for host, t, back in _server_outages(h, ctx.end) if host in ctx.real_servers]
    if not outages:
        return Verdict(name, False, "no real server of a virtual server was stopped: nothing to measure")
    tables = _ipvs_by_node(h)
    if not tables:
        return Verdict(name, False, "no IPVS table was sampled (is this an LVS scenario?)")
    spans = h.fault_spans(end=ctx.end)
    evidence: list[str] = []
    figures: dict[str, float] = {}
    bad = measured = 0
    for i, (host, stopped, back) in enumerate(outages):
        bound = ctx.real_servers[host]
        if bound is None:
            bad += 1
            evidence.append(f"{host} stopped at {_s(stopped)}: it has no checker, so nothing can remove it")
            continue
        for node, samples in sorted(tables.items()):
            if not any(host in x.live() for x in samples if x.t <= stopped):
                continue  # never one of this director's live destinations
            if _down_at(spans, node, stopped):
                continue
            limit = back if back is not None else ctx.end
            removed = _removal(samples, host, stopped, limit)
            if removed is None and _down_at(spans, node, limit - 1):
                continue  # the director itself went down meanwhile
            measured += 1
            if removed is None:
                bad += 1
                evidence.append(f"{host} stopped at {_s(stopped)}: still in {node}'s table at {_s(limit)}")
                continue
            took = (removed - stopped) / US
            ok = took <= bound + tolerance
            bad += not ok
            evidence.append(
                f"{host} stopped at {_s(stopped)}: left {node}'s table after {took:.3f} s; bound {bound:.3f} s "
                f"+ {tolerance:g} s: {'within' if ok else 'LATE'}"
            )
            figures[f"removal_{i}_{node}_s"] = took
            figures[f"bound_{i}_s"] = bound
            if back is not None:
                returned = next((x.t for x in samples if x.t >= back and host in x.live()), None)
                if returned is None:
                    bad += 1
                    evidence.append(f"{host} started again at {_s(back)}: never back in {node}'s table")
                else:
                    figures[f"return_{i}_{node}_s"] = (returned - back) / US
                    evidence.append(f"{host} started again at {_s(back)}: back in {node}'s table after "
                                    f"{(returned - back) / US:.3f} s")
    if not measured and not bad:
        return Verdict(name, False, "no running director had a stopped real server in its table", tuple(evidence))
    ok = bad == 0
    return Verdict(name, ok, f"{measured - bad} of {measured} removal(s) within the bound" if ok
                   else f"{bad} problem(s) in {measured} removal(s)", tuple(evidence), figures)


def no_failed_request_to_healthy_server(h: History, ctx: CheckContext, tolerance: float = 1.0) -> Verdict:
    """Clients fail only while a stopped real server is still in a running director's table (from its stop,
    less ``tolerance`` s, to its removal plus ``tolerance`` s) or while a director fault settles (a request in
    flight when such a window opened counts as inside it); every other failure hit a healthy real server. A
    success answered by a server that was stopped then is a failure too."""
    name = "no_failed_request_to_healthy_server"
    if not h.requests:
        return Verdict(name, False, "no client requests were recorded")
    tol = round(tolerance * US)
    tables = _ipvs_by_node(h)
    spans = h.fault_spans(end=ctx.end)
    windows: list[tuple[int, int, str]] = []
    down: list[tuple[int, int, str]] = []
    for host, stopped, back in _server_outages(h, ctx.end):
        limit = back if back is not None else ctx.end
        down.append((stopped, limit, host))
        gone = [_removal(s, host, stopped, limit) for n, s in tables.items() if not _down_at(spans, n, stopped)]
        last = max((t if t is not None else limit for t in gone), default=limit)
        windows.append((stopped - tol, last + tol, f"{host} down, not yet removed"))
    for span in spans:
        if span.kind in (*_APART, "crash", "stop") and span.node in (*ctx.routers, None):
            # the routers settle after the fault is lifted, or after it began if it lasts to the end
            until = (span.stop if span.stop < ctx.end else span.start) + ctx.settle
            windows.append((span.start, until, f"{span.kind} {span.node or ''}".strip()))
    failed = [r for r in h.requests if not r.ok]
    # a request in flight when a window opened failed because of it too (it hangs until its timeout)
    excused = [r for r in failed if any(r.t <= b and max(r.done, r.t) >= a for a, b, _ in windows)]
    unexcused = [r for r in failed if r not in excused]
    evidence = [f"failed at {_s(r.t)} with no real server down or director fault: {r.error or 'no answer'}"
                for r in unexcused[:10]]
    ghosts = [r for r in h.requests if r.ok and any(a + tol < r.t < b and r.server == host for a, b, host in down)]
    evidence += [f"answered at {_s(r.t)} by {r.server}, which was stopped" for r in ghosts[:5]]
    ok = not unexcused and not ghosts
    summary = (f"{len(failed)} failed request(s), all while a real server was down or a director fault settled"
               if ok else f"{len(unexcused)} failure(s) with every real server healthy, {len(ghosts)} ghost answer(s)")
    return Verdict(name, ok, summary, tuple(evidence),
                   {"failed": float(len(failed)), "unexcused": float(len(unexcused)), "requests": len(h.requests)})


def ipvs_converged(h: History, ctx: CheckContext, dests: Sequence[str] | None = None,
                   service: str | None = None) -> Verdict:
    """After the last fault has settled, every running director's IPVS table holds exactly the expected live
    destinations (``dests``: host names or address:port; default: the real servers still serving at the end,
    or the sorry servers when none is), in ``service`` or in all services."""
    name = "ipvs_converged"
    since = _last_fault(h) + ctx.settle
    if since > ctx.end:
        return Verdict(name, False, f"the run ended {_s(since - ctx.end)} before the last fault had settled")
    tables = _ipvs_by_node(h)
    if not tables:
        return Verdict(name, False, "no IPVS table was sampled (is this an LVS scenario?)")
    if dests is not None:
        expected = set(dests)
    else:
        serving = {host for host, _, back in _server_outages(h, ctx.end) if back is None}
        expected = {host for host in ctx.real_servers if host not in serving}
        if not expected:
            expected = set(ctx.sorry_servers)
    spans = h.fault_spans(end=ctx.end)
    evidence: list[str] = []
    converged = 0
    checked = []
    for node, samples in sorted(tables.items()):
        if _down_at(spans, node, ctx.end - 1):
            continue
        checked.append(node)
        first = _table_at(samples, since)
        seen = ([first] if first else []) + [x for x in samples if since < x.t <= ctx.end]
        for smp in seen:
            live = smp.live(service)
            if live != expected:
                evidence.append(f"{node} at {_s(max(smp.t, since))}: {sorted(live)}, expected {sorted(expected)}")
        last_other = max((x.t for x in samples if x.t <= ctx.end and x.live(service) != expected), default=None)
        if last_other is not None:
            nxt = next((x.t for x in samples if x.t > last_other), None)
            converged = max(converged, (nxt or ctx.end) - _last_fault(h))
    if not checked:
        evidence.append("no director was running at the end")
    ok = not evidence
    summary = (f"{', '.join(checked)}: {sorted(expected)} from {_s(since)} on" if ok
               else f"{len(evidence)} table(s) not as expected")
    return Verdict(name, ok, summary, tuple(evidence[:20]), {"converged_after_last_fault_s": converged / US})


CHECKS: dict[str, Callable[..., Verdict]] = {
    "one_master": one_master,
    "dual_master_only_under_fault": dual_master_only_under_fault,
    "failover_gap": failover_gap,
    "client_outage": client_outage,
    "transitions_per_fault": transitions_per_fault,
    "final_master": final_master,
    "no_master_change": no_master_change,
    "client_view": client_view,
    "real_server_removed": real_server_removed,
    "no_failed_request_to_healthy_server": no_failed_request_to_healthy_server,
    "ipvs_converged": ipvs_converged,
}
assert set(CHECKS) == set(CHECK_PARAMS), "the scenario schema and the checkers must name the same checks"


def run_checks(h: History, ctx: CheckContext, expect: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Verdict]:
    """Run each (check name, parameters) over ``h``; a checker that raises is a failed verdict, not a crash."""
    out = []
    for check, params in expect:
        try:
            out.append(CHECKS[check](h, ctx, **params))
        except Exception as exc:  # a bug in a checker must not hide the other verdicts
            out.append(Verdict(check, False, f"checker error: {type(exc).__name__}: {exc}"))
    return out
