"""The nemesis: faults injected into a running lab with real mechanisms, each recorded in the history.

Jepsen's split (a nemesis injects, observers record, checkers judge): every fault here is done the way it
happens in production, never simulated inside the daemon, and each one appends a
:class:`~netns_lab.history.FaultEvent` with the kinds the simulator uses (crash, stop, restart, pause, resume,
partition, heal, loss, priority, tracker) plus reload, link-down, link-up, server-stop and server-start.

* processes: SIGKILL (crash), SIGTERM (graceful stop), SIGSTOP/SIGCONT (pause), SIGHUP (reload), start again;
* priority: rewrite ``priority N`` in the router's keepalived.conf and reload, or write a tracked file
  (keepalived's ``track_file``: the daemon reads the number in it);
* partitions and loss are enforced **in the bridge's namespace** with nftables bridge-family rules on the
  forward hook, matched on bridge ports. Rules in a host's INPUT chain would not stop a daemon that receives
  through a packet socket, and this kernel has no netem, so loss is ``numgen random mod 1000 < N drop``. A
  flooded frame (a multicast advert) passes the forward hook once per output port, so loss applies per receiver;
* link down/up takes the host's bridge port down (the host sees carrier loss, as with a pulled cable);
* real servers are stopped with SIGTERM and started again.

Everything the nemesis adds is removed by :meth:`Nemesis.close` (tables deleted, ports up, paused processes
resumed); the tables live in the lab's switch namespaces, so they also die with the lab.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from netns_lab.history import FaultEvent, History
from netns_lab.lab import Lab, LabError

if TYPE_CHECKING:
    from netns_lab.scenario import Fault

__all__ = ["TABLE", "Nemesis", "NemesisError", "Proc"]

#: the nftables table (bridge family) the nemesis owns in each switch namespace
TABLE = "netns_lab_nemesis"
_PRIORITY_RE = re.compile(r"^(\s*priority\s+)(\d+)(\s*(?:#.*)?)$", re.MULTILINE)


class NemesisError(RuntimeError):
    """A fault could not be injected; the message names the fault and the host."""


class Proc(Protocol):
    """What the nemesis needs of a process (``LabProcess`` has it, and so do the daemon handles)."""

    def running(self) -> bool: ...
    def kill(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def signal(self, sig: int) -> None: ...
    def stop(self, timeout: float = 5) -> int | None: ...


@dataclass
class _SwitchState:
    groups: list[list[str]] = field(default_factory=list)  # hosts per partition side (empty: no partition)
    loss: dict[str, float] = field(default_factory=dict)  # host -> probability


class Nemesis:
    """Faults for one lab run. ``clock()`` gives the history's time (µs since the run started).

    ``daemons`` and ``servers`` map a host to its running process; ``starters`` map a host to a function that
    starts its daemon (or server) again and returns the new process (used by :meth:`start`).
    """

    def __init__(
        self,
        lab: Lab,
        history: History,
        clock: Callable[[], int],
        *,
        daemons: Mapping[str, Proc] | None = None,
        servers: Mapping[str, Proc] | None = None,
        starters: Mapping[str, Callable[[], Proc]] | None = None,
        server_starters: Mapping[str, Callable[[], Proc]] | None = None,
        configs: Mapping[str, Path] | None = None,
    ) -> None:
        self.lab = lab
        self.history = history
        self.clock = clock
        self.daemons: dict[str, Proc] = dict(daemons or {})
        self.servers: dict[str, Proc] = dict(servers or {})
        self.starters = dict(starters or {})
        self.server_starters = dict(server_starters or {})
        self.configs = dict(configs or {})
        self._switches: dict[str, _SwitchState] = {}
        self._paused: set[str] = set()
        self._ports_down: set[tuple[str, str]] = set()
        #: the nft table (bridge family) of this run: in a namespace the lab shares (Mininet's bridges are in the
        #: root namespace) it carries the run's prefix, and its rules match only the run's own ports
        self.table = f"{TABLE}_{lab.prefix}" if lab.shared_switch_namespace else TABLE

    # ------------------------------------------------------------------ recording
    def _record(self, kind: str, node: str | None = None, detail: str = "") -> FaultEvent:
        event = FaultEvent(self.clock(), kind, node, detail)
        self.history.faults.append(event)
        return event

    def _daemon(self, host: str) -> Proc:
        try:
            return self.daemons[host]
        except KeyError:
            raise NemesisError(f"no daemon runs in {host!r} (daemons: {', '.join(sorted(self.daemons))})") from None

    # ------------------------------------------------------------------ processes
    def kill(self, host: str) -> FaultEvent:
        """SIGKILL the daemon of ``host``: a crash, no priority-0 advert (a killed daemon leaves its VIPs on the
        interface, as keepalived does: nothing runs to remove them)."""
        self._daemon(host).kill()
        self._paused.discard(host)
        return self._record("crash", host, "SIGKILL")

    def terminate(self, host: str) -> FaultEvent:
        """SIGTERM (graceful stop: the master sends priority 0 and removes its VIPs), then wait for the exit."""
        proc = self._daemon(host)
        event = self._record("stop", host, "SIGTERM")
        proc.stop(10)
        self._paused.discard(host)
        return event

    def start(self, host: str) -> FaultEvent:
        """Start the daemon of ``host`` again (after a kill or stop)."""
        if host in self.daemons and self.daemons[host].running():
            raise NemesisError(f"start {host}: its daemon is still running")
        try:
            starter = self.starters[host]
        except KeyError:
            raise NemesisError(f"start {host}: no way to start a daemon there") from None
        self.daemons[host] = starter()
        return self._record("restart", host)

    def pause(self, host: str) -> FaultEvent:
        """SIGSTOP the daemon (all its processes): timers freeze, frames queue in its sockets."""
        self._daemon(host).pause()
        self._paused.add(host)
        return self._record("pause", host, "SIGSTOP")

    def resume(self, host: str) -> FaultEvent:
        """SIGCONT after :meth:`pause`."""
        self._daemon(host).resume()
        self._paused.discard(host)
        return self._record("resume", host, "SIGCONT")

    def reload(self, host: str) -> FaultEvent:
        """SIGHUP: the daemon re-reads its configuration."""
        self._daemon(host).signal(signal.SIGHUP)
        return self._record("reload", host, "SIGHUP")

    def set_priority(self, host: str, priority: int) -> FaultEvent:
        """Rewrite every ``priority N`` line of ``host``'s keepalived.conf to ``priority`` and reload."""
        if not 1 <= priority <= 254:
            raise NemesisError(f"priority {host}: {priority} is not 1-254")
        try:
            path = self.configs[host]
        except KeyError:
            raise NemesisError(f"priority {host}: its configuration file is not known") from None
        text = path.read_text()
        new, n = _PRIORITY_RE.subn(lambda m: f"{m.group(1)}{priority}{m.group(3)}", text)
        if n == 0:
            raise NemesisError(f"priority {host}: {path} has no 'priority N' line to change")
        path.write_text(new)
        self._daemon(host).signal(signal.SIGHUP)
        return self._record("priority", host, f"{priority} (config rewritten, SIGHUP)")

    def write_track_file(self, host: str, path: Path, value: int) -> FaultEvent:
        """Write ``value`` into a file the daemon tracks (keepalived's ``track_file``)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(f"{value}\n")
        tmp.replace(path)  # the daemon never reads a half-written number
        return self._record("tracker", host, f"{path.name}={value}")

    def server_stop(self, host: str) -> FaultEvent:
        """Stop the real server of ``host`` (SIGTERM, then SIGKILL). The fault counts from the SIGTERM: the
        server may refuse or drop requests while it shuts down."""
        try:
            proc = self.servers[host]
        except KeyError:
            raise NemesisError(f"server-stop {host}: no real server runs there") from None
        event = self._record("server-stop", host)
        proc.stop(5)
        return event

    def server_start(self, host: str) -> FaultEvent:
        """Start the real server of ``host`` again."""
        if host in self.servers and self.servers[host].running():
            raise NemesisError(f"server-start {host}: its server is still running")
        try:
            self.servers[host] = self.server_starters[host]()
        except KeyError:
            raise NemesisError(f"server-start {host}: no way to start a server there") from None
        return self._record("server-start", host)

    # ------------------------------------------------------------------ the wire (bridge namespace)
    def _switch(self, switch: str | None) -> str:
        names = [s.name for s in self.lab.topology.switches]
        if switch is None:
            if len(names) != 1:
                raise NemesisError(f"the lab has {len(names)} switches; name one of {', '.join(names)}")
            return names[0]
        if switch not in names:
            raise NemesisError(f"no switch {switch!r} (switches: {', '.join(names)})")
        return switch

    def _ports(self, switch: str, hosts: Iterable[str]) -> list[str]:
        wanted = set(hosts)
        return [
            self.lab.port_ifname(link.host, link.ifname)
            for link in self.lab.topology.links
            if link.switch == switch and link.host in wanted
        ]

    def _ruleset(self, switch: str) -> str:
        state = self._switches.get(switch, _SwitchState())
        rules: list[str] = []
        if state.groups:
            on_switch = [lk.host for lk in self.lab.topology.links if lk.switch == switch]
            listed = {h for g in state.groups for h in g}
            sides = [g for g in state.groups] + [[h for h in on_switch if h not in listed]]
            port_sides = [self._ports(switch, side) for side in sides]
            port_sides = [ports for ports in port_sides if ports]
            for i, src in enumerate(port_sides):
                for j, dst in enumerate(port_sides):
                    if i != j:
                        rules.append(f"iifname {_set(src)} oifname {_set(dst)} counter drop")
        for host, p in sorted(state.loss.items()):
            threshold = round(p * 1000)
            if threshold <= 0:
                continue
            # numgen's values are 0..999: "< 1000" is out of range for nft, and total loss needs no random draw
            draw = "" if threshold >= 1000 else f"numgen random mod 1000 < {threshold} "
            for port in self._ports(switch, [host]):
                rules.append(f'iifname "{port}" {draw}counter drop')
                rules.append(f'oifname "{port}" {draw}counter drop')
        body = "\n".join(f"    {r}" for r in rules)
        return (
            f"table bridge {self.table}\ndelete table bridge {self.table}\n"
            f"table bridge {self.table} {{\n  chain forward {{\n"
            f"    type filter hook forward priority 0; policy accept;\n{body}\n  }}\n}}\n"
        )

    def _apply(self, switch: str) -> None:
        state = self._switches.get(switch)
        if state is None or (not state.groups and not any(state.loss.values())):
            self._switches.pop(switch, None)
            self._nft(switch, f"table bridge {self.table}\ndelete table bridge {self.table}\n")
            return
        self._nft(switch, self._ruleset(switch))

    def _nft(self, switch: str, script: str) -> None:
        try:
            cp = self.lab.switch_exec(switch, ["nft", "-f", "-"], input=script, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired, LabError) as exc:
            raise NemesisError(f"nft in switch {switch!r}: {exc}") from None
        if cp.returncode != 0:
            raise NemesisError(f"nft in switch {switch!r} failed: {cp.stderr.strip()}\n{script}")

    def partition(self, groups: Sequence[Sequence[str]], switch: str | None = None) -> FaultEvent:
        """Split ``switch`` so each group hears only itself; hosts not listed form one more group together."""
        sw = self._switch(switch)
        hosts = set(self.lab.hosts)
        seen: set[str] = set()
        for g in groups:
            for h in g:
                if h not in hosts:
                    raise NemesisError(f"partition: no host {h!r}")
                if h in seen:
                    raise NemesisError(f"partition: {h!r} is in two groups")
                seen.add(h)
        state = self._switches.setdefault(sw, _SwitchState())
        state.groups = [list(g) for g in groups]
        self._apply(sw)
        on_switch = [lk.host for lk in self.lab.topology.links if lk.switch == sw]
        rest = sorted(h for h in on_switch if h not in seen)
        sides = [sorted(g) for g in groups] + ([rest] if rest else [])
        return self._record("partition", None, f"{sw}: {sides}")

    def heal(self, switch: str | None = None) -> FaultEvent:
        """Remove the partition of ``switch`` (loss rules stay)."""
        sw = self._switch(switch)
        if sw in self._switches:
            self._switches[sw].groups = []
        self._apply(sw)
        return self._record("heal", None, sw)

    def loss(self, hosts: Sequence[str], probability: float, switch: str | None = None) -> list[FaultEvent]:
        """Drop each frame to or from each of ``hosts`` with ``probability`` (0 clears)."""
        if not 0.0 <= probability <= 1.0:
            raise NemesisError(f"loss: probability {probability} is not within 0..1")
        sw = self._switch(switch)
        state = self._switches.setdefault(sw, _SwitchState())
        for h in hosts:
            if h not in self.lab.hosts:
                raise NemesisError(f"loss: no host {h!r}")
            if probability > 0:
                state.loss[h] = probability
            else:
                state.loss.pop(h, None)
        self._apply(sw)
        return [self._record("loss", h, f"{probability:g}") for h in hosts]

    def clear_loss(self, hosts: Sequence[str] | None = None, switch: str | None = None) -> list[FaultEvent]:
        """No more loss for ``hosts`` (default: every host with loss)."""
        sw = self._switch(switch)
        state = self._switches.get(sw)
        targets = list(hosts) if hosts is not None else sorted(state.loss if state else {})
        return self.loss(targets, 0.0, sw) if targets else []

    def counters(self, switch: str | None = None) -> int:
        """Frames the nemesis's rules have dropped on ``switch`` so far (0 without rules)."""
        sw = self._switch(switch)
        cp = self.lab.switch_exec(sw, ["nft", "list", "table", "bridge", self.table], timeout=10, check=False)
        return sum(int(n) for n in re.findall(r"counter packets (\d+)", cp.stdout)) if cp.returncode == 0 else 0

    def link_down(self, host: str, ifname: str = "eth0") -> FaultEvent:
        """Take ``host``'s bridge port down: the host's ``ifname`` loses carrier."""
        self._port_state(host, ifname, "down")
        self._ports_down.add((host, ifname))
        return self._record("link-down", host, ifname)

    def link_up(self, host: str, ifname: str = "eth0") -> FaultEvent:
        """Bring ``host``'s bridge port back up."""
        self._port_state(host, ifname, "up")
        self._ports_down.discard((host, ifname))
        return self._record("link-up", host, ifname)

    def _port_state(self, host: str, ifname: str, state: str) -> None:
        switch = next((lk.switch for lk in self.lab.topology.links if lk.host == host and lk.ifname == ifname), None)
        if switch is None:
            raise NemesisError(f"link-{state}: host {host!r} has no link {ifname!r}")
        try:
            self.lab.switch_exec(switch, ["ip", "link", "set", self.lab.port_ifname(host, ifname), state])
        except LabError as exc:
            raise NemesisError(f"link-{state} {host}/{ifname}: {exc}") from None

    # ------------------------------------------------------------------ scenario faults
    def apply(self, f: Fault, host: str | None, resolve: Callable[[str], str]) -> str:
        """Inject the scenario fault ``f`` now, by its kind (the vocabulary of scenario files, ``netns-lab run``
        and ``netns-lab fault``). ``host`` is the host a ``target`` fault acts on; ``resolve`` names the host
        behind a ``master`` / ``backup`` selector in ``targets`` and ``groups``. Returns what to add to the
        fault's description (the partition's sides when selectors were resolved)."""

        def one() -> str:
            if host is None:
                raise NemesisError(f"{f.kind}: no target host")
            return host

        match f.kind:
            case "kill":
                self.kill(one())
            case "stop":
                self.terminate(one())
            case "start":
                self.start(one())
            case "pause":
                self.pause(one())
            case "resume":
                self.resume(one())
            case "reload":
                self.reload(one())
            case "priority":
                self.set_priority(one(), int(f.priority or 0))
            case "track-file":
                try:  # a tracked file lives in the daemon's run directory, beside its keepalived.conf
                    run_dir = self.configs[one()].parent
                except KeyError:
                    raise NemesisError(f"track-file {one()}: its run directory is not known") from None
                self.write_track_file(one(), run_dir / str(f.file), int(f.value or 0))
            case "partition":
                groups = [[resolve(h) for h in g] for g in f.groups]
                self.partition(groups, f.switch)
                if any(list(g) != list(r) for g, r in zip(f.groups, groups, strict=True)):
                    return f" ({' | '.join(','.join(g) for g in groups)})"
            case "heal":
                self.heal(f.switch)
            case "loss":
                self.loss([resolve(t) for t in f.targets], float(f.probability or 0))
            case "clear-loss":
                self.clear_loss([resolve(t) for t in f.targets] if f.targets else None)
            case "link-down":
                self.link_down(one(), f.ifname)
            case "link-up":
                self.link_up(one(), f.ifname)
            case "server-stop":
                self.server_stop(one())
            case "server-start":
                self.server_start(one())
            case _:
                raise NemesisError(f"unknown fault {f.kind!r}")
        return ""

    # ------------------------------------------------------------------ cleanup
    def close(self) -> None:
        """Undo everything still in force (rules, ports down, paused daemons); safe to call twice.

        Recorded as faults lifted, so the history shows when the run ended each one. Once the lab is torn
        down (Ctrl-C) there is nothing left to undo: the tables and ports died with its namespaces."""
        if not self.lab.active:
            self._switches.clear()
            self._ports_down.clear()
            self._paused.clear()
            return
        for sw in list(self._switches):
            state = self._switches[sw]
            if state.groups:
                self.heal(sw)
            if state.loss:
                self.clear_loss(switch=sw)
            self._switches.pop(sw, None)
        for host, ifname in sorted(self._ports_down):
            self.link_up(host, ifname)
        for host in sorted(self._paused):
            if host in self.daemons and self.daemons[host].running():
                self.resume(host)
        self._paused.clear()


def _set(ports: Sequence[str]) -> str:
    return "{ " + ", ".join(f'"{p}"' for p in ports) + " }"
