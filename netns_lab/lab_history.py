"""The real lab writes the simulator's history model: adverts from the bridge capture, state transitions from
the daemons' logs, VIP holders from each host's kernel, and the faults the lab injected, on one clock.

Times in a :class:`~netns_lab.history.History` are integer µs from the start of the run; the lab's observers
stamp epoch seconds (kernel timestamps for packets, log time for transitions), so a :class:`LabRecorder`
fixes the origin ``t0`` and converts.  A crash (SIGKILL) leaves no log line, so the recorder writes the
``-> INIT`` transition of each instance the killed daemon ran, as the simulator does for a crashed node.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netns_lab.capture import AdvertSeen
from netns_lab.daemons import Daemon, vip_holders
from netns_lab.history import (
    AdvertSent,
    ClientVipView,
    FaultEvent,
    History,
    Transition,
    VipChange,
    VipHolderSample,
)
from vrrp.core.state import State
from vrrp.core.timers import US_PER_S

if TYPE_CHECKING:
    from netns_lab.lab import Lab

__all__ = ["ConfiguredInstance", "LabRecorder", "VipWatcher", "configured_instances"]

#: log words for states the history model names otherwise (a graceful stop ends in INIT, as in the simulator)
_STATE_WORDS = {"STOP": State.INIT}


@dataclass(frozen=True)
class ConfiguredInstance:
    """What a ``vrrp_instance`` block says about itself: enough to label what the lab observes."""

    name: str
    vrid: int
    priority: int
    vips: tuple[str, ...]


_BLOCK = re.compile(r"^\s*vrrp_instance\s+(\S+)\s*\{", re.MULTILINE)


def configured_instances(text: str) -> dict[str, ConfiguredInstance]:
    """The instances of a keepalived.conf text (name, VRID, priority, bare VIPs), found by keyword.

    Only for labelling observations of a config the lab itself wrote: the daemons parse configs properly.
    """
    out: dict[str, ConfiguredInstance] = {}
    starts = list(_BLOCK.finditer(text))
    for i, m in enumerate(starts):
        body = text[m.end() : starts[i + 1].start() if i + 1 < len(starts) else len(text)]
        vrid = re.search(r"^\s*virtual_router_id\s+(\d+)", body, re.MULTILINE)
        prio = re.search(r"^\s*priority\s+(\d+)", body, re.MULTILINE)
        vips_block = re.search(r"virtual_ipaddress\s*\{([^}]*)\}", body)
        vips = tuple(
            line.split()[0].split("/")[0] for line in (vips_block.group(1).splitlines() if vips_block else [])
            if line.split()
        )
        out[m.group(1)] = ConfiguredInstance(
            m.group(1), int(vrid.group(1)) if vrid else 0, int(prio.group(1)) if prio else 100, vips
        )
    return out


class VipWatcher:
    """Sample which hosts hold each VIP every ``interval`` s in a thread, keeping a sample per change.

    ``with VipWatcher(lab, ["10.0.0.100"], hosts=["r1", "r2"]) as w: ...``; ``w.samples`` holds
    (epoch seconds, vip, holders) in time order.
    """

    def __init__(self, lab: Lab, vips: Iterable[str], *, hosts: Sequence[str] | None = None,
                 interval: float = 0.05) -> None:
        self.lab = lab
        self.vips = list(vips)
        self.hosts = list(lab.hosts if hosts is None else hosts)
        self.interval = interval
        self.samples: list[tuple[float, str, tuple[str, ...]]] = []
        self._last: dict[str, tuple[str, ...]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netns-lab-vip-watcher", daemon=True)

    def _sample(self) -> None:
        for vip in self.vips:
            t = time.time()
            holders = tuple(vip_holders(self.lab, vip, self.hosts))
            if self._last.get(vip) != holders:
                self._last[vip] = holders
                self.samples.append((t, vip, holders))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
            except OSError:
                if self._stop.is_set() or not self.lab.active:
                    return
                raise
            self._stop.wait(self.interval)

    def __enter__(self) -> VipWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class LabRecorder:
    """One lab run's clock and fault log; :meth:`history` joins them with the other observations."""

    def __init__(self, *, t0: float | None = None, segment: str = "lan") -> None:
        self.t0 = time.time() if t0 is None else t0
        self.segment = segment
        self.faults: list[FaultEvent] = []

    def us(self, t: float) -> int:
        """Epoch seconds -> µs since ``t0`` (the history's clock)."""
        return round((t - self.t0) * US_PER_S)

    def fault(self, kind: str, node: str | None = None, detail: str = "", *, t: float | None = None) -> FaultEvent:
        """Record a fault the lab injected now (or at epoch ``t``)."""
        event = FaultEvent(self.us(time.time() if t is None else t), kind, node, detail)
        self.faults.append(event)
        return event

    def history(
        self,
        daemons: Mapping[str, Daemon],
        *,
        adverts: Sequence[AdvertSeen] = (),
        addresses: Mapping[str, str] | None = None,
        vip_samples: Sequence[tuple[float, str, tuple[str, ...]]] = (),
        client_views: Mapping[str, Sequence[tuple[float, str, tuple[str, ...], str | None]]] | None = None,
    ) -> History:
        """The run as a :class:`History`: ``daemons`` maps node name -> its daemon (restarts included, since a
        :class:`~netns_lab.daemons.Daemon` keeps every process's log); ``addresses`` maps a router's source
        address -> node, to name the sender of each advert."""
        h = History(faults=sorted(self.faults, key=lambda f: f.t))
        configs = {node: configured_instances(d.conf_path.read_text() if d.conf_path.exists() else d.spec.config)
                   for node, d in daemons.items()}
        for node, d in daemons.items():
            h.transitions.extend(self._transitions(node, d, configs[node]))
        h.transitions.sort(key=lambda tr: tr.t)
        by_vrid = {(node, ci.vrid): ci for node, cis in configs.items() for ci in cis.values()}
        names = addresses or {}
        for a in sorted(adverts, key=lambda a: a.t):
            node = names.get(a.src, a.src)
            ci = by_vrid.get((node, a.vrid))
            h.adverts.append(AdvertSent(self.us(a.t), node, ci.name if ci else "", a.vrid, self.segment, a.priority))
        self._vips(h, configs, vip_samples)
        for client, samples in (client_views or {}).items():  # a ClientVipWatcher's samples per client
            h.client_views.extend(ClientVipView(self.us(t), client, vip, answerers, neighbour)
                                  for t, vip, answerers, neighbour in samples)  # fmt: skip
        h.client_views.sort(key=lambda v: v.t)
        return h

    def _transitions(self, node: str, d: Daemon, instances: Mapping[str, ConfiguredInstance]) -> list[Transition]:
        """Logged state changes of one daemon, with the crashes of its own node turned into ``-> INIT``."""
        events: list[tuple[int, int, str, str, str]] = []  # (t, order, instance, state word, reason)
        for lt in d.transitions():
            events.append((self.us(lt.t), 1, lt.instance, lt.state, lt.reason))
        for f in self.faults:
            if f.node == node and f.kind == "crash":
                for name in instances:
                    events.append((f.t, 0, name, "INIT", "crash"))
        priority = {name: ci.priority for name, ci in instances.items()}
        changes = sorted((self.us(p.t), p.instance, p.new) for p in d.priority_changes())
        state = dict.fromkeys(instances, State.INIT)
        out: list[Transition] = []
        for t, _, name, word, reason in sorted(events):
            new = _STATE_WORDS.get(word) or State[word]
            old = state.get(name, State.INIT)
            if new is old:
                continue
            state[name] = new
            prio = priority.get(name, 0)
            for ct, cname, value in changes:
                if cname == name and ct <= t:
                    prio = value
            ci = instances.get(name)
            out.append(Transition(t, node, name, ci.vrid if ci else 0, self.segment, old, new, reason,
                                  0 if reason == "crash" else prio))
        return out

    def _vips(self, h: History, configs: Mapping[str, Mapping[str, ConfiguredInstance]],
              samples: Sequence[tuple[float, str, tuple[str, ...]]]) -> None:
        owner = {(node, vip): ci for node, cis in configs.items() for ci in cis.values() for vip in ci.vips}
        held: dict[str, set[str]] = {}
        for t, vip, holders in sorted(samples, key=lambda s: s[0]):
            h.vip_holders.append(VipHolderSample(self.us(t), vip, holders))
            before = held.get(vip, set())
            for node in sorted(set(holders) ^ before):
                ci = owner.get((node, vip))
                if ci is not None:
                    h.vip_changes.append(VipChange(self.us(t), node, ci.name, ci.vrid, self.segment, node in holders))
            held[vip] = set(holders)
