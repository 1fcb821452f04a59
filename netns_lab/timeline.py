"""The timeline picture of a run: what happened, readable without the text report.

One figure per run (``compare``: two runs one above the other, same time axis), drawn from a
:class:`~netns_lab.history.History` alone, so a simulated run draws exactly like a lab run:

* one lane per router, coloured by its VRRP state (master, backup, fault, down), with its adverts as ticks;
* a "VIP" lane coloured by who held the virtual address;
* for a load balancer, one lane per real server: in the running directors' IPVS tables (with a weight above 0)
  or out of them;
* a "clients" lane: each request a tick, green when it succeeded, red when it failed;
* faults as shaded spans across every lane (instant ones, such as a reload, as a dashed line), labelled on top.

matplotlib's object API with the Agg canvas (no display, no pyplot global state, safe in threads).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from netns_lab.history import FaultSpan, History
from vrrp.core.state import State

__all__ = ["STATE_COLOURS", "Run", "draw", "draw_compare"]

US = 1_000_000
STATE_COLOURS = {
    State.MASTER: "#2ca02c",
    State.BACKUP: "#9ecae1",
    State.FAULT: "#d62728",
    State.INIT: "#d9d9d9",
}
_HOLDER_COLOURS = ["#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
_FAULT_COLOURS = {
    "crash": "#7f7f7f",
    "stop": "#bdbdbd",
    "pause": "#fdae6b",
    "partition": "#9e9ac8",
    "loss": "#c49c94",
    "link-down": "#f768a1",
    "server-stop": "#dbdb8d",
}


@dataclass(frozen=True)
class Run:
    """A history to draw, with its title and end (µs; default: the last thing recorded)."""

    title: str
    history: History
    end: int | None = None


def _end(h: History) -> int:
    times = [t.t for t in h.transitions] + [a.t for a in h.adverts] + [f.t for f in h.faults]
    times += [r.done for r in h.requests] + [v.t for v in h.vip_holders] + [v.t for v in h.vip_changes]
    times += [v.t for v in h.client_views]
    times += [x.t for x in h.ipvs]
    return max(times, default=US)


def _routers(h: History) -> list[str]:
    names = {t.node for t in h.transitions} | {a.node for a in h.adverts}
    return sorted(names)


def _vip_segments(h: History, end: int) -> list[tuple[int, int, tuple[str, ...]]]:
    """(start, stop, holders) from VIP samples (lab) or VIP changes (simulator)."""
    out: list[tuple[int, int, tuple[str, ...]]] = []
    if h.vip_holders:
        samples = sorted(h.vip_holders, key=lambda s: s.t)
        for s, nxt in zip(samples, [*samples[1:], None], strict=True):
            out.append((s.t, nxt.t if nxt else end, tuple(sorted(set(s.holders)))))
        return out
    held: set[str] = set()
    last = 0
    for v in sorted(h.vip_changes, key=lambda v: v.t):
        if v.t > last:
            out.append((last, v.t, tuple(sorted(held))))
        last = v.t
        if v.held:
            held.add(v.node)
        else:
            held.discard(v.node)
    if h.vip_changes:
        out.append((last, end, tuple(sorted(held))))
    return out


_IPVS_COLOURS = {"in": "#74c476", "out": "#fcbba1", "mixed": "#fdd0a2"}


def _real_servers(h: History) -> list[str]:
    return sorted({d.host or d.dest for smp in h.ipvs for d in smp.dests})


def _ipvs_segments(h: History, host: str, end: int) -> list[tuple[int, int, str]]:
    """(start, stop, "in" / "out" / "mixed"): ``host`` live in all, none or some of the running directors'
    tables (a crashed or stopped director's frozen table does not count)."""
    by_node: dict[str, list[tuple[int, set[str]]]] = {}
    for smp in sorted(h.ipvs, key=lambda x: x.t):
        by_node.setdefault(smp.node, []).append((smp.t, smp.live()))
    down = [sp for sp in h.fault_spans(end=end) if sp.kind in ("crash", "stop")]
    cuts = sorted({t for rows in by_node.values() for t, _ in rows} | {x for d in down for x in (d.start, d.stop)}
                  | {end})
    out: list[tuple[int, int, str]] = []
    for a, b in itertools.pairwise(cuts):
        if b > end:
            break
        seen = []
        for node, rows in by_node.items():
            if any(d.node == node and d.start <= a < d.stop for d in down):
                continue
            now = [live for t, live in rows if t <= a]
            if now:
                seen.append(host in now[-1])
        if seen:
            kind = "in" if all(seen) else "mixed" if any(seen) else "out"
            if out and out[-1][1] == a and out[-1][2] == kind:
                out[-1] = (out[-1][0], b, kind)
            else:
                out.append((a, b, kind))
    return out


def _draw_run(ax: Axes, run: Run, end: int) -> None:
    h = run.history
    routers = _routers(h)
    real = _real_servers(h)
    lanes = [*routers, *real, "VIP", "clients"]
    y = {name: len(lanes) - 1 - i for i, name in enumerate(lanes)}
    sec = 1 / US

    # router states
    for node in routers:
        trs = [t for t in h.transitions if t.node == node]
        segs = []
        for t, nxt in zip(trs, [*trs[1:], None], strict=True):
            segs.append((t.t, (nxt.t if nxt else end) - t.t, t.new))
        for state in State:
            bars = [(a * sec, w * sec) for a, w, s in segs if s is state and w > 0]
            if bars:
                ax.broken_barh(bars, (y[node] - 0.35, 0.7), facecolors=STATE_COLOURS[state], edgecolor="none")
        ticks = [a.t * sec for a in h.adverts if a.node == node]
        zero = [a.t * sec for a in h.adverts if a.node == node and a.priority == 0]
        if ticks:
            ax.vlines(ticks, y[node] + 0.2, y[node] + 0.45, colors="#333333", linewidth=0.6)
        if zero:
            ax.vlines(zero, y[node] - 0.45, y[node] + 0.45, colors="black", linewidth=1.5)

    # real servers in the IPVS tables
    for host in real:
        for kind, colour in _IPVS_COLOURS.items():
            bars = [(a * sec, (b - a) * sec) for a, b, k in _ipvs_segments(h, host, end) if k == kind]
            if bars:
                ax.broken_barh(bars, (y[host] - 0.25, 0.5), facecolors=colour, edgecolor="none")

    # VIP holder
    colours: dict[str, str] = {n: _HOLDER_COLOURS[i % len(_HOLDER_COLOURS)] for i, n in enumerate(routers)}
    down = [sp for sp in h.fault_spans(end=end) if sp.kind in ("crash", "stop")]
    pieces = []
    for a0, b0, all_holders in _vip_segments(h, end):
        cuts = sorted({a0, b0, *(x for d in down for x in (d.start, d.stop) if a0 < x < b0)})
        pieces += [(a, b, all_holders) for a, b in itertools.pairwise(cuts)]
    for a, b, all_holders in pieces:
        # a killed daemon leaves its VIP on the interface; what matters is who holds it among the running ones
        holders = tuple(n for n in all_holders if not any(d.node == n and d.start <= a < d.stop for d in down))
        if b <= a or not holders:
            continue
        if len(holders) == 1:
            colour, hatch = colours.get(holders[0], "#7f7f7f"), None
        else:
            colour, hatch = "#d62728", "////"  # two holders: the picture should shout
        ax.broken_barh(
            [(a * sec, (b - a) * sec)],
            (y["VIP"] - 0.35, 0.7),
            facecolors=colour,
            hatch=hatch,
            edgecolor="white" if hatch else "none",
        )

    # the client's view (ARP / ND): a thin bar under the VIP lane in the colour of the router whose MAC the
    # client's neighbour cache holds (a different colour from the bar above: the client sends to the wrong one)
    views = sorted(h.client_views, key=lambda v: v.t)
    first = (views[0].client, views[0].vip) if views else None
    mine = [v for v in views if (v.client, v.vip) == first]
    for v, later in zip(mine, [*mine[1:], None][: len(mine)], strict=True):
        stop = later.t if later else end
        if v.neighbour is None or stop <= v.t:
            continue
        colour = colours.get(v.neighbour, "#7f7f7f")
        ax.broken_barh([(v.t * sec, (stop - v.t) * sec)], (y["VIP"] - 0.5, 0.12), facecolors=colour,
                       edgecolor="none")  # fmt: skip

    # clients
    ok = [r.t * sec for r in h.requests if r.ok]
    bad = [r.t * sec for r in h.requests if not r.ok]
    if ok:
        ax.vlines(ok, y["clients"], y["clients"] + 0.4, colors="#2ca02c", linewidth=0.8)
    if bad:
        ax.vlines(bad, y["clients"] - 0.4, y["clients"], colors="#d62728", linewidth=0.8)

    # faults
    top = len(lanes) - 0.5
    spans = h.fault_spans(end=end)
    for i, span in enumerate(spans):
        _draw_fault(ax, span, top + 0.45 * (i % 2), sec)

    ax.set_yticks([y[n] for n in lanes], lanes)
    ax.set_ylim(-0.6, top + 1.3)
    ax.set_xlim(0, end * sec)
    ax.set_title(run.title, loc="left", fontsize=11)
    ax.grid(axis="x", color="#eeeeee", linewidth=0.8)
    ax.set_axisbelow(True)
    names = {State.MASTER: "master", State.BACKUP: "backup", State.FAULT: "fault state", State.INIT: "down / init"}
    handles = [Patch(color=STATE_COLOURS[s], label=label) for s, label in names.items()]
    handles += [Patch(color=colours[n], label=f"VIP on {n}") for n in routers if n in colours]
    if mine:
        handles.append(Patch(color="#7f7f7f", label=f"thin: {first[0] if first else ''}'s ARP entry"))
    if real:
        handles += [Patch(color=_IPVS_COLOURS["in"], label="real server in IPVS"),
                    Patch(color=_IPVS_COLOURS["out"], label="real server out of IPVS")]
    handles += [Patch(color="#2ca02c", label="request ok"), Patch(color="#d62728", label="request failed")]
    for kind in sorted({sp.kind for sp in spans if sp.stop > sp.start}):
        handles.append(Patch(color=_FAULT_COLOURS.get(kind, "#cccccc"), alpha=0.35, label=f"{kind} (fault)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _draw_fault(ax: Axes, span: FaultSpan, top: float, sec: float) -> None:
    label = f"{span.kind} {span.node}" if span.node else span.kind
    if span.kind == "partition":
        groups = re.findall(r"\[([^\[\]]*)\]", span.detail)
        label = "partition " + " | ".join(g.replace("'", "").replace('"', "") for g in groups)
    elif span.kind == "loss":
        label = f"loss {span.node} {span.detail}"
    a = span.start * sec
    if span.stop > span.start:
        colour = _FAULT_COLOURS.get(span.kind, "#cccccc")
        ax.axvspan(a, span.stop * sec, color=colour, alpha=0.3, linewidth=0)
    else:
        ax.axvline(a, color="#555555", linestyle="--", linewidth=1)
    ax.text(a, top + 0.1, label, fontsize=8, rotation=0, va="bottom", ha="left", clip_on=True)


def _figure(runs: Sequence[Run]) -> Figure:
    end = max(r.end if r.end is not None else _end(r.history) for r in runs)
    lanes = max(len(_routers(r.history)) + len(_real_servers(r.history)) + 2 for r in runs)
    fig = Figure(figsize=(13, 1.0 + (0.55 * lanes + 0.9) * len(runs)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(runs), 1, sharex=True, squeeze=False)
    for ax, run in zip(axes[:, 0], runs, strict=True):
        _draw_run(ax, run, end)
    axes[-1, 0].set_xlabel("time (s)")
    return fig


def _save(fig: Figure, path: Path) -> list[Path]:
    """Write ``path`` as PNG and its .svg sibling; returns both paths."""
    path.parent.mkdir(parents=True, exist_ok=True)
    png, svg = path.with_suffix(".png"), path.with_suffix(".svg")
    fig.savefig(png, dpi=110)
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # real text in the SVG: searchable, selectable
        fig.savefig(svg)
    return [png, svg]


def draw(run: Run, path: str | Path) -> list[Path]:
    """Draw one run; writes ``path`` with suffixes .png and .svg and returns both."""
    return _save(_figure([run]), Path(path))


def draw_compare(first: Run, second: Run, path: str | Path) -> list[Path]:
    """Two runs (e.g. keepalived and pykeepalived on one scenario) one above the other, one time axis."""
    return _save(_figure([first, second]), Path(path))
