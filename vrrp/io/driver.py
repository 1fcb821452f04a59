"""The VRRP process: the asyncio driver of one sans-IO ``vrrp.core.host.Host`` holding every ``vrrp_instance``.

Why it is built this way (the sans-IO core, thin I/O shell rule): every protocol decision lives in
``vrrp.core`` (the routers, their sync groups, and the host layer that demultiplexes packets, filters our own
and orders actions; the simulator drives the very same host); this module only turns the world into host
events and the host's actions into the world, in the order the host returns them:

* packets: one raw socket per (interface, family) from ``vrrp.io.sockets.SocketRegistry``; a readable socket is
  drained at once and each message goes to ``Host.receive`` with the socket as its link;
* time: the loop's monotonic clock, converted to integer microseconds at this edge only; one timer handle,
  re-armed from ``Host.next_timer()`` after every event; a received packet's time is its kernel receive
  stamp, and a Backup's long wait is armed in two stages around the kernel's timer slack (see ``_arm``);
* trackers (``vrrp.io.trackers``) and the netlink reflector (``vrrp.io.reflector``) report changes that become
  host tracker events;
* actions: adverts are sent synchronously (a send never waits for anything), VIP/route changes run on a
  per-instance netlink worker so they stay ordered without blocking the loop, GARP/NA bursts are scheduled
  on the loop, notifications are fire-and-forget tasks (``vrrp.io.notify``).  Nothing a script or netlink does
  can delay an advertisement.  Every action carries what it needs (the addresses with their options, routes,
  rules, the GARP schedule): nothing here re-reads the settings to carry one out;
* Accept_Mode off (``no_accept``): the netlink worker also puts the VIPs into the daemon's nftables table
  (``vrrp.io.accept``) before adding them, and takes them out after removing them; a new
  Master joins the Solicited-Node group of each IPv6 VIP (RFC 9568 §6.4.2);
* keepalived's old v3 unicast checksum (``old_unicast_checksum``): the host decides which form verifies and
  reports when it learns the old one; this shell sums what it sends over the group in that mode.

Reload (SIGHUP): ``DaemonHooks.reload`` re-reads the configuration in a worker thread; ``Host.reconfigure``
decides per instance (unchanged: untouched; priority / installed addresses: in place; anything else: that
instance restarts) and this shell carries it out, opening sockets only for new instances.  Reloads are
serialized.  Dump signals call ``DaemonHooks.dump`` (keepalived's formats) and write our own ``OWN_DUMP``.

Shutdown (SIGTERM/SIGINT): each router's ``shutdown`` sends priority 0 and removes its VIPs, STOP is
notified, then VMACs, sockets, trackers and the notifier are closed, so nothing is left on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import gc
import ipaddress
import json
import logging
import os
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, assert_never

from pyroute2.iproute.linux import AsyncIPRoute

from vrrp.core.actions import (
    AddVips,
    HostAction,
    OldChecksumAdopted,
    PacketDiscarded,
    PriorityChanged,
    ReceivedLowerPriority,
    RemoveVips,
    SendAdvertisement,
    SendGratuitous,
    StateChanged,
    SyncGroupStateChanged,
)
from vrrp.core.host import Host, Member, OldChecksum, Pair
from vrrp.core.packet import encode
from vrrp.core.router import RouterStats, VirtualRouter
from vrrp.core.state import State, TransitionReason
from vrrp.io.accept import AcceptFilter, AcceptFilterError
from vrrp.io.addresses import AddressError, NetlinkConfigurator
from vrrp.io.garp import AnnouncementSchedule, AnnouncementSender, mac_bytes
from vrrp.io.notify import Notifier, NotifyFifo, NotifyScripts, NotifyState
from vrrp.io.realtime import tune_gc_after_startup
from vrrp.io.reflector import LinkEvent, Reflector, link_event
from vrrp.io.scripts import Script, script_refusal
from vrrp.io.sockets import SocketRegistry, VrrpSocket
from vrrp.io.spec import DaemonSettings, InstanceSettings
from vrrp.io.trackers import FileTracker, ProcessTracker, ScriptTracker, TrackerKind, TrackerUpdate, deliver
from vrrp.io.vmac import VmacError, VmacManager

log = logging.getLogger("pykeepalived.vrrp")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Job = Callable[[], Awaitable[None]]

#: How long start-up waits for an interface's source address (an IPv6 link-local finishing DAD).
_SOURCE_WAIT_S = 5.0
#: Shutdown: how long releasing trackers, sockets, VMACs and notify scripts may take after the VIPs are gone.
_RELEASE_TIMEOUT_S = 4.0
#: How early a Backup's Master_Down_Timer wakes the loop (then sleeps the rest precisely), in µs.
_EARLY_US = 1000
#: The kernel lets epoll_wait oversleep by 0.1 % of its timeout (``select_estimate_accuracy``: 3.6 ms on a
#: 3.6 s Master_Down_Interval at 1 s adverts) unless the task is realtime.  A Backup's long wait is therefore
#: cut in two: the first wake comes this fraction of the remaining time (twice the kernel's) before the
#: precise stage, and the second wait is short enough for its slack to be a few µs.
_SLACK_DIVISOR = 500
#: A failing send (advert, GARP/NA) is logged at WARNING at most once per this many seconds per instance; every
#: failure is counted (``send_errors`` in the dumps).  A deleted interface fails every advert: the log must say
#: so without flooding.
_SEND_ERROR_LOG_INTERVAL_S = 10.0
#: Transitions kept per instance for the dumps.  keepalived keeps no history at all (its data dump shows the
#: current state and the last transition's reason); 64 covers any failover story an operator reads off a
#: dump, while a flapping instance (a transition per advert interval, for weeks) stays a few KiB.
TRANSITION_HISTORY = 64
#: Shutdown watchdog: a loop blocked in a library call cannot honour the timeout above; a thread can.
_SHUTDOWN_WATCHDOG_S = 12.0


class DaemonError(RuntimeError):
    """Start-up failed in a way the user can fix; the message names the instance and the interface."""


class ReloadError(Exception):
    """The new configuration cannot run; the message names the file and line.  The old one keeps running."""


#: The dump signals and what each asks for ("stats_clear": write the stats, then zero the counters).
DUMP_SIGNALS: dict[int, str] = {
    int(signal.SIGUSR1): "data",
    int(signal.SIGUSR2): "stats",
    int(signal.SIGRTMIN) + 2: "json",
    int(signal.SIGRTMAX) - 1: "stats_clear",
}
#: Our own rich JSON (state, counters, transition history), written on every dump signal.  keepalived's file
#: names hold keepalived's formats (written by the ``dump`` hook); tools of ours read this one.
OWN_DUMP = "pykeepalived.json"


@dataclass
class DaemonHooks:
    """What the process around the driver adds (``vrrp`` never imports ``pykeepalived``: it hands these in).

    ``reload`` re-reads the configuration (in a worker thread) and returns the new settings, or raises
    ``ReloadError``; ``dump(kind, daemon)`` writes keepalived's dump file for ``kind`` (a ``DUMP_SIGNALS``
    value); ``state_changed(instance, old state, new state)`` / ``group_changed(group, state)`` see every transition
    (e-mail alerts, metrics); ``ready`` / ``reloading`` / ``stopping`` are the life-cycle points (sd_notify);
    ``closing`` runs last in shutdown (e.g. to flush queued e-mail).
    """

    reload: Callable[[], DaemonSettings] | None = None
    dump: Callable[[str, VrrpDaemon], None] | None = None
    state_changed: list[Callable[[str, State, State], object]] = field(default_factory=list)
    group_changed: list[Callable[[str, State], object]] = field(default_factory=list)
    ready: list[Callable[[], object]] = field(default_factory=list)
    reloading: list[Callable[[], object]] = field(default_factory=list)
    stopping: list[Callable[[], object]] = field(default_factory=list)
    started: list[Callable[[VrrpDaemon], Awaitable[None]]] = field(default_factory=list)
    closing: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def _call_all(callbacks: list[Callable[..., object]], *args: object) -> None:
    for cb in callbacks:
        try:
            cb(*args)
        except Exception:  # a hook must never take the VRRP loop down
            log.exception("hook %s failed", getattr(cb, "__qualname__", cb))


@dataclass
class DaemonStats:
    """Counters of the shell (packets no instance owns are counted by the host layer: ``Host.stats``)."""

    send_errors: int = 0
    netlink_errors: int = 0


@dataclass(eq=False)
class Instance:
    """Run-time companion of one router: its socket, source address and workers.

    ``router`` is the host's (``Host.router``): read it for dumps, never drive it directly.
    """

    settings: InstanceSettings
    router: VirtualRouter
    sock: VrrpSocket
    rx: VrrpSocket
    src: IPAddress
    mac: bytes
    announcer: AnnouncementSender | None = None
    jobs: asyncio.Queue[Job | None] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    garp_handles: list[asyncio.TimerHandle] = field(default_factory=list)
    blocked: tuple[IPAddress, ...] = ()
    #: sending keepalived <= 1.3.6's v3 unicast checksum (over the multicast group): configured, or learnt
    old_checksum: bool = False
    #: send failures not logged yet (rate limit: _SEND_ERROR_LOG_INTERVAL_S) and when the last one was logged
    send_errors_unlogged: int = 0
    send_error_logged_at: float = -_SEND_ERROR_LOG_INTERVAL_S
    #: (wall time, from, to, reason) of the latest transitions, for the dumps: bounded, a flapping instance
    #: must not grow the daemon for ever (see TRANSITION_HISTORY)
    transitions: deque[tuple[float, str, str, str]] = field(
        default_factory=lambda: deque(maxlen=TRANSITION_HISTORY)
    )

    @property
    def name(self) -> str:
        return self.settings.name

    def targets(self) -> tuple[IPAddress, ...]:
        return self.settings.unicast_peers or (self.settings.dst_group,)


class VrrpDaemon:
    """Runs the instances of ``settings`` until :meth:`request_stop` (signals call it)."""

    def __init__(
        self,
        settings: DaemonSettings,
        *,
        dump_dir: Path = Path("/tmp"),
        on_hard_exit: Callable[[], None] | None = None,
        hooks: DaemonHooks | None = None,
    ) -> None:
        self.settings = settings
        self.hooks = hooks or DaemonHooks()
        self._reload_task: asyncio.Task[None] | None = None
        self._reload_wanted = False
        self.reloads = 0
        self.on_hard_exit = on_hard_exit
        self.dump_dir = dump_dir
        self.stats = DaemonStats()
        self.instances: list[Instance] = []
        self.host: Host | None = None
        self._by_name: dict[str, Instance] = {}
        #: each sync group's notify scripts as script security lets them run (set by _start and each reload)
        self._group_notify: dict[str, NotifyScripts] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._armed: tuple[int, int] | None = None  # (deadline µs, how early it was armed µs)
        self._gc_paused = False  # cyclic GC held off between a takeover's coarse and precise wake (_fire)
        self._readers: set[int] = set()
        self._registry = SocketRegistry()
        self._tasks: list[asyncio.Task[None]] = []
        self._tracker_tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ipr: Any = None
        self._netlink: NetlinkConfigurator | None = None
        self._vmacs: VmacManager | None = None
        self._notifier = Notifier()
        self._reflector: Reflector | None = None
        self._announcers: dict[str, AnnouncementSender] = {}
        self._accept = AcceptFilter()
        self._started_at = time.time()

    # ------------------------------------------------------------------ clock

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def now_us(self) -> int:
        """The loop's monotonic clock in integer microseconds: the router's time scale."""
        return int(self.loop.time() * 1_000_000)

    def _arrival_us(self, stamp_ns: int | None) -> int:
        """When a packet arrived, on the loop's clock: its kernel receive stamp (wall clock) moved onto the
        monotonic scale, so a Backup's Master_Down_Timer starts when the advert arrived, not when the loop got
        to it (a wake-up or scheduling delay would otherwise make the takeover that much late).  A stamp in
        the future or older than a second (the wall clock was stepped) is not trusted: then it is now."""
        now = self.now_us()
        if stamp_ns is not None:
            age = (time.time_ns() - stamp_ns) // 1000
            if 0 < age < 1_000_000:
                return now - age
        return now

    # ------------------------------------------------------------------ lifecycle

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        """Start every instance, serve until asked to stop, then shut down cleanly; the exit status."""
        self._loop = asyncio.get_running_loop()
        self._install_signals()
        try:
            async with AsyncIPRoute() as ipr:
                self._ipr = ipr
                self._netlink = NetlinkConfigurator(ipr)
                self._vmacs = VmacManager(ipr)
                try:
                    await self._start()
                except (DaemonError, AddressError, VmacError, OSError, ValueError) as exc:
                    log.error("%s", exc)
                    await self._shutdown()
                    return 1
                tune_gc_after_startup(self.settings.process)
                for start_hook in self.hooks.started:
                    try:
                        await start_hook(self)
                    except Exception:
                        log.exception("start hook failed")
                log.info("VRRP started: %d instance(s)", len(self.instances))
                _call_all(self.hooks.ready)
                await self._stop.wait()
                log.info("Stopping")
                _call_all(self.hooks.stopping)
                watchdog = threading.Timer(_SHUTDOWN_WATCHDOG_S, self._hard_exit)
                watchdog.daemon = True
                watchdog.start()
                await self._finish_reload()
                await self._shutdown()
                for close_hook in self.hooks.closing:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(close_hook(), 2.0)
                watchdog.cancel()
        finally:
            self._remove_signals()
        log.info("Stopped - used %.6f user time, %.6f system time", *os.times()[:2])
        return 0

    def _hard_exit(self) -> None:
        """Last resort (runs in a thread): the loop is stuck in shutdown; exit rather than hang forever."""
        log.error("shutdown did not finish within %.0f s; exiting without full cleanup", _SHUTDOWN_WATCHDOG_S)
        if self.on_hard_exit is not None:
            self.on_hard_exit()
        logging.shutdown()
        os._exit(1)

    def _install_signals(self) -> None:
        """keepalived's signals (``keepalived --signum``): none of them is ever fatal to us but STOP."""
        loop = self.loop
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self._on_reload)
        for signum, kind in DUMP_SIGNALS.items():
            loop.add_signal_handler(signum, self._on_dump, kind)
        # TDUMP (SIGRTMAX) exists only in keepalived builds with THREAD_DUMP: a no-op here, never a kill
        loop.add_signal_handler(signal.SIGRTMAX, log.info, "thread dump (SIGRTMAX) is not supported; ignored")
        # vrrp_rlimit_rttime's soft limit: say so (keepalived logs it too); the hard limit still kills
        loop.add_signal_handler(signal.SIGXCPU, log.warning,
                                "realtime CPU limit (vrrp_rlimit_rttime) exceeded without blocking")

    def _remove_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, *DUMP_SIGNALS, signal.SIGRTMAX, signal.SIGXCPU):
            self.loop.remove_signal_handler(sig)
        for sig in (signal.SIGHUP, *DUMP_SIGNALS, signal.SIGRTMAX):  # late signals during exit: not a kill
            with contextlib.suppress(OSError, ValueError):
                signal.signal(sig, signal.SIG_IGN)

    # ------------------------------------------------------------------ reload (SIGHUP)

    def _on_reload(self) -> None:
        """SIGHUP: re-read and apply the difference.  Reloads are serialized: a SIGHUP while one is being
        applied runs one more reload after it (several queued SIGHUPs collapse into that one)."""
        if self.hooks.reload is None:
            log.warning("Reload (SIGHUP): no configuration source; configuration unchanged")
            return
        if self._stop.is_set():
            return
        self._reload_wanted = True
        if self._reload_task is None or self._reload_task.done():
            self._reload_task = asyncio.create_task(self._reload_loop(), name="reload")

    async def _finish_reload(self) -> None:
        task = self._reload_task
        if task is not None and not task.done():
            self._reload_wanted = False
            try:
                await asyncio.wait_for(asyncio.shield(task), 5.0)
            except (TimeoutError, Exception):
                task.cancel()

    async def _reload_loop(self) -> None:
        reload = self.hooks.reload
        assert reload is not None
        while self._reload_wanted and not self._stop.is_set():
            self._reload_wanted = False
            started = time.monotonic()
            log.info("Reloading ...")
            _call_all(self.hooks.reloading)
            log.info("Reloading")
            try:
                new = await asyncio.to_thread(reload)
            except ReloadError as exc:
                log.error("%s", exc)
                log.error("Reload failed: keeping the running configuration")
                _call_all(self.hooks.ready)
                continue
            except Exception:
                log.exception("Reload failed: keeping the running configuration")
                _call_all(self.hooks.ready)
                continue
            if self._stop.is_set():
                return
            try:
                await self._apply(new)
            except (DaemonError, AddressError, VmacError, OSError, ValueError) as exc:
                log.error("Reload failed while applying the new configuration: %s", exc)
            except Exception:
                log.exception("Reload failed while applying the new configuration")
            self.reloads += 1
            log.info("Reload complete")  # keepalived 2.2.7's words
            log.info("Reload finished in %d usec", int((time.monotonic() - started) * 1_000_000))
            _call_all(self.hooks.ready)

    def _member(self, inst: Instance, s: InstanceSettings) -> Member:
        """The host member of ``s`` on the sockets ``inst`` already holds."""
        mode = _old_checksum_mode(s)
        return Member(s.router_config(inst.src), inst.rx.fileno(), group=s.dst_group, old_checksum=mode)

    async def _apply(self, new: DaemonSettings) -> None:
        """Apply ``new`` as a difference (``Host.reconfigure`` decides per instance; this carries it out).

        Instances whose sockets would change (interface, VMAC, family, multicast/unicast, group, source) first
        leave as removed ones (their own ``reconfigure``), then come back as new ones.
        """
        host = self.host
        assert host is not None
        trackers_before = self._tracker_key()
        old = {i.name: i for i in self.instances}
        same_io = {s.name for s in new.instances if s.name in old and _same_io(old[s.name].settings, s)}
        now = self.now_us()
        if any(i.name not in same_io for i in self.instances):
            staying = [i for i in self.instances if i.name in same_io]
            groups = [(g.name, [n for n in g.members if n in same_io]) for g in self.settings.sync_groups]
            first = host.reconfigure([self._member(i, i.settings) for i in staying],
                                     [(n, m) for n, m in groups if m], now)
            self._carry_out(first.stopped)
            gone = [i for i in self.instances if i.name not in same_io]
            self.instances = staying
            await self._release_instances(gone)
            self._by_name = {i.name: i for i in self.instances}
        links: dict[str, bool] = {}
        members: list[Member] = []
        instances: list[Instance] = []
        fresh: list[Instance] = []
        current = {i.name: i for i in self.instances}
        try:
            for s in new.instances:
                inst = current.get(s.name)
                if inst is None:
                    inst, member = await self._make_instance(s)
                    fresh.append(inst)
                else:
                    member = self._member(inst, s)
                members.append(member)
                instances.append(inst)
            result = host.reconfigure(members, [(g.name, g.members) for g in new.sync_groups], self.now_us())
        except Exception:
            await self._release_instances(fresh)
            raise
        self._carry_out(result.stopped)  # against the old instances (a restarted one keeps its companion)
        await self._set_static(self.settings, new)
        old_settings, self.settings = self.settings, new
        await self._reload_notify_fifos(old_settings, new)
        self._group_notify = self._secure_group_notify(new)  # as at start: no script -t would refuse
        self.instances = instances
        self._by_name = {i.name: i for i in instances}
        for inst, s in zip(instances, new.instances, strict=True):
            inst.settings = self._secure_notify(s)
            inst.router = host.router(inst.name)
            inst.old_checksum = host.old_checksum(inst.name)
        now = self.now_us()
        for inst in fresh:
            inst.worker = asyncio.create_task(self._netlink_worker(inst), name=f"netlink {inst.name}")
            fd = inst.rx.fileno()
            if fd not in self._readers:
                self._readers.add(fd)
                self.loop.add_reader(fd, self._on_readable, inst.rx)
        restarted = set(result.restarted) | set(result.added)
        for inst in instances:
            if inst.name not in restarted:
                continue
            for ifname, tname in inst.settings.tracked_interfaces.items():
                if ifname not in links:
                    links[ifname] = await self._link_up(ifname)
                host.set_tracker_state(inst.name, tname, links[ifname], now)
        self._carry_out(result.pairs)
        if self._tracker_key() != trackers_before:
            # changed vrrp_script / track_file / track_process definitions: the trackers start afresh and
            # report their first results (a router only moves if a result differs from what it holds)
            await self._stop_trackers()
            self._start_trackers()
            log.info("Reload: trackers restarted")
        log.info("Reload: %d unchanged, %d updated, %d restarted, %d added, %d removed", len(result.unchanged),
                 len(result.updated), len(result.restarted), len(result.added), len(result.removed))

    async def _link_up(self, ifname: str) -> bool:
        index = await self._ipr.link_lookup(ifname=ifname)
        if not index:
            return False
        for msg in await self._ipr.link("get", index=index[0]):
            event = link_event(msg)
            if event is not None:
                return event.up
        return False

    async def _release_instances(self, gone: list[Instance]) -> None:
        """Stop the workers (after their queued VIP removals) and release the sockets and VMACs of ``gone``."""
        for inst in gone:
            self._cancel_garp(inst)
            await inst.jobs.put(None)
        workers = [i.worker for i in gone if i.worker is not None]
        if workers:
            _done, pending = await asyncio.wait(workers, timeout=5)
            for w in pending:
                w.cancel()
        in_use = {i.rx.fileno() for i in self.instances if i not in gone}
        for inst in gone:
            s = inst.settings
            fd = inst.rx.fileno()
            if fd in self._readers and fd not in in_use:
                self.loop.remove_reader(fd)
                self._readers.discard(fd)
            self._registry.release(inst.rx, group=s.dst_group, multicast=not s.unicast)
            if inst.sock is not inst.rx:
                self._registry.release(inst.sock, multicast=False)
            if s.vmac is not None and self._vmacs is not None:
                with contextlib.suppress(Exception):
                    await self._vmacs.remove(s.vmac)

    async def _set_static(self, old: DaemonSettings | None, new: DaemonSettings) -> None:
        """Global static addresses, routes and rules: add what ``new`` has and ``old`` had not, remove the rest
        (``old`` None: start).  Errors are logged, never fatal (keepalived carries on too).  What was added is
        removed at stop with everything else the configurator added (``remove_all_added``)."""
        assert self._netlink is not None
        nl = self._netlink
        # (keyword, before, after, add, remove), in the order things are added; removals run in reverse
        kinds: list[tuple[str, tuple[Any, ...], tuple[Any, ...], Callable[[Any], Awaitable[object]],
                          Callable[[Any], Awaitable[object]]]] = [
            ("static_ipaddress", old.static_addresses if old else (), new.static_addresses, nl.add_address,
             nl.remove_address),
            ("static_routes", old.static_routes if old else (), new.static_routes, nl.add_route, nl.remove_route),
            ("static_rules", old.static_rules if old else (), new.static_rules, nl.add_rule, nl.remove_rule),
        ]
        for keyword, before, after, _, remove in reversed(kinds):
            for item in reversed([x for x in before if x not in after]):
                try:
                    await remove(item)
                except (AddressError, OSError) as exc:
                    log.error("%s %s: %s", keyword, item, exc)
        for keyword, before, after, add, _ in kinds:
            for item in [x for x in after if x not in before]:
                try:
                    await add(item)
                except (AddressError, OSError) as exc:
                    log.error("%s %s: %s", keyword, item, exc)
        if new.static_addresses or new.static_routes or new.static_rules:
            log.info("static: %d address(es), %d route(s), %d rule(s)", len(new.static_addresses),
                     len(new.static_routes), len(new.static_rules))

    async def _start(self) -> None:
        s = self.settings
        await self._set_static(None, s)
        self._notifier.fifos.extend(self._notify_fifos(s))
        self._group_notify = self._secure_group_notify(s)
        await self._notifier.start()
        self._reflector = Reflector()
        await self._reflector.open()
        links = {e.ifname: e for e in await self._reflector.snapshot() if isinstance(e, LinkEvent)}
        members: list[Member] = []
        for inst_settings in s.instances:
            inst, member = await self._make_instance(inst_settings)
            self.instances.append(inst)
            members.append(member)
        # the one host layer: sockets are the links packets arrive on
        host = self.host = Host(members, [(g.name, g.members) for g in s.sync_groups])
        for inst in self.instances:
            inst.router = host.router(inst.name)
            inst.old_checksum = host.old_checksum(inst.name)
            self._by_name[inst.name] = inst
        now = self.now_us()
        for inst in self.instances:  # the interfaces' state before anything starts (not reported: INIT)
            for ifname, tname in inst.settings.tracked_interfaces.items():
                link = links.get(ifname)
                host.set_tracker_state(inst.name, tname, link is not None and link.up, now)
        self._tasks.append(asyncio.create_task(self._reflect(), name="reflector"))
        self._start_trackers()
        for inst in self.instances:
            inst.worker = asyncio.create_task(self._netlink_worker(inst), name=f"netlink {inst.name}")
            fd = inst.rx.fileno()
            if fd not in self._readers:
                self._readers.add(fd)
                self.loop.add_reader(fd, self._on_readable, inst.rx)
        for inst in self.instances:
            await self._remove_leftovers(inst)
            inst.settings = self._secure_notify(inst.settings)
        for inst in self.instances:
            if inst.settings.initial_state == "MASTER" and inst.settings.priority != 255:
                log.info("(%s) configured state MASTER: starting as BACKUP (RFC 9568 §6.4.1)", inst.name)
        self._carry_out(host.start(self.now_us()))

    async def _make_instance(self, s: InstanceSettings) -> tuple[Instance, Member]:
        assert self._netlink is not None and self._vmacs is not None
        if s.vmac is not None:
            vmac = await self._vmacs.create(s.vmac)
            log.info("(%s) VMAC %s (%s) on %s", s.name, vmac.ifname, vmac.mac, s.parent_interface)
        src = s.src_ip
        if src is None:
            # IPv4: the parent's primary address (a VMAC has none); IPv6: the sending interface's link-local
            dev = s.parent_interface if s.family == 4 else s.interface
            src = await self._source_address(s, dev)
        cfg = s.router_config(src)
        router = VirtualRouter(cfg)  # replaced by the host's own once the host exists
        # With a VMAC, adverts leave through the VMAC (virtual source MAC) but are received on the parent:
        # macvlan never delivers a frame whose source MAC is its own, and every router's VMAC has the same MAC.
        try:
            rx = self._registry.acquire(s.parent_interface, s.af, group=s.dst_group, multicast=not s.unicast)
            sock = rx if s.vmac is None else self._registry.acquire(s.interface, s.af, multicast=False)
        except OSError as exc:
            raise DaemonError(f"({s.name}) cannot open the VRRP socket on {s.interface}: {exc}") from exc
        mac = await self._mac(s.interface)
        inst = Instance(s, router, sock, rx, src, mac)
        mode = _old_checksum_mode(s)
        member = Member(cfg, rx.fileno(), group=s.dst_group, old_checksum=mode)
        try:
            inst.announcer = self._announcer(s.interface)
        except OSError as exc:
            log.warning("(%s) cannot send gratuitous ARP/NA on %s: %s", s.name, s.interface, exc)
        log.info("(%s) VRID %d on %s, source %s, %s", s.name, s.vrid, s.interface, src,
                 "unicast to " + ", ".join(map(str, s.unicast_peers)) if s.unicast else f"multicast {s.dst_group}")
        return inst, member

    async def _remove_leftovers(self, inst: Instance) -> None:
        """keepalived's "removing VIPs" at start: a Backup must not hold the VIPs a crashed run left behind."""
        assert self._netlink is not None
        s = inst.settings
        for va in inst.router.config.install_addresses:
            with contextlib.suppress(AddressError):
                if await self._netlink.remove_address(va):
                    log.info("(%s) removed leftover VIP %s", s.name, va)

    def _notify_fifos(self, s: DaemonSettings) -> list[NotifyFifo]:
        """The configured notify FIFOs, a script that script security refuses left out (logged)."""
        fifos = []
        for path, script in s.notify_fifos:
            allowed = script is None or self._script_allowed(script, f"notify_fifo {path} script")
            fifos.append(NotifyFifo(path, script=script if allowed else None))
        return fifos

    async def _reload_notify_fifos(self, old: DaemonSettings, new: DaemonSettings) -> None:
        """Reload: FIFOs whose path and script stay are left alone (their readers lose nothing); the others
        close and the new ones open, as keepalived's reload closes and reopens them (vrrp_daemon.c)."""
        if (old.notify_fifos, old.script_security) == (new.notify_fifos, new.script_security):
            return
        closed, opened = await self._notifier.replace_fifos(self._notify_fifos(new), fifo_script_grace=0.5)
        for fifo in closed:
            log.info("Reload: notify fifo %s closed", fifo.path)
        for fifo in opened:
            log.info("Reload: notify fifo %s opened", fifo.path)

    def _secure_group_notify(self, s: DaemonSettings) -> dict[str, NotifyScripts]:
        """Each sync group's notify scripts, those script security refuses dropped (logged)."""
        return {g.name: self._secure_scripts(g.notify, f"vrrp_sync_group {g.name} notify") for g in s.sync_groups}

    def _secure_notify(self, s: InstanceSettings) -> InstanceSettings:
        """Drop notify scripts that script security refuses (keepalived disables them and logs why)."""
        return dataclasses.replace(s, notify=self._secure_scripts(s.notify, f"({s.name}) notify"))

    def _secure_scripts(self, n: NotifyScripts, what: str) -> NotifyScripts:
        kept: dict[str, Script | None] = {}
        for f in dataclasses.fields(n):
            script = getattr(n, f.name)
            kept[f.name] = script if script is None or self._script_allowed(script, f"{what}_{f.name}") else None
        return dataclasses.replace(n, **kept)

    async def _source_address(self, s: InstanceSettings, dev: str) -> IPAddress:
        assert self._netlink is not None
        exclude = frozenset(v.address.ip for v in s.vips)
        deadline = time.monotonic() + _SOURCE_WAIT_S
        while True:
            try:
                found = await self._netlink.primary_address(dev, s.af, exclude=exclude)
            except AddressError as exc:
                raise DaemonError(f"({s.name}) {exc}") from None
            if found is not None:
                return found
            if time.monotonic() > deadline:
                kind = "primary IPv4 address" if s.family == 4 else "IPv6 link-local address"
                raise DaemonError(f"({s.name}) interface {dev} has no {kind} to send adverts from "
                                  f"(set unicast_src_ip or mcast_src_ip)")
            await asyncio.sleep(0.05)

    async def _mac(self, ifname: str) -> bytes:
        index = await self._ipr.link_lookup(ifname=ifname)
        if not index:
            raise DaemonError(f"interface {ifname} does not exist")
        msgs = await self._ipr.link("get", index=index[0])
        for msg in msgs:
            addr = msg.get("IFLA_ADDRESS")
            if addr:
                return mac_bytes(str(addr))
        return bytes(6)

    def _announcer(self, ifname: str) -> AnnouncementSender:
        if ifname not in self._announcers:
            self._announcers[ifname] = AnnouncementSender.open(ifname)
        return self._announcers[ifname]

    async def _shutdown(self) -> None:
        """Priority 0 and VIP removal first (what the network sees), then release everything else.

        The second half runs under a time limit: a stuck helper must not keep a stopping daemon alive.
        """
        if self.host is not None:
            try:
                self._carry_out(self.host.shutdown(self.now_us()))
            except Exception:  # keep going: the VIPs must still be released
                log.exception("error during shutdown")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for inst in self.instances:
            self._cancel_garp(inst)
            await inst.jobs.put(None)
        workers = [i.worker for i in self.instances if i.worker is not None]
        if workers:
            _done, pending = await asyncio.wait(workers, timeout=5)
            for w in pending:
                w.cancel()
        if self._netlink is not None:
            for failure in await self._netlink.remove_all_added():
                log.error("%s", failure)
        try:
            await asyncio.wait_for(self._accept.close(), 3)
        except (AcceptFilterError, OSError, TimeoutError) as exc:
            log.error("cannot remove the nftables table %s: %s", self._accept.table, exc)
        try:
            await asyncio.wait_for(self._release(), _RELEASE_TIMEOUT_S)
        except TimeoutError:
            log.error("shutdown: releasing resources took longer than %.0f s; exiting anyway", _RELEASE_TIMEOUT_S)

    async def _release(self) -> None:
        log.debug("shutdown: stopping trackers and the reflector task")
        await self._stop_trackers()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for fd in list(self._readers):
            self.loop.remove_reader(fd)
        self._readers.clear()
        log.debug("shutdown: closing sockets and VMACs")
        for inst in self.instances:
            s = inst.settings
            self._registry.release(inst.rx, group=s.dst_group, multicast=not s.unicast)
            if inst.sock is not inst.rx:
                self._registry.release(inst.sock, multicast=False)
            if s.vmac is not None and self._vmacs is not None:
                with contextlib.suppress(Exception):
                    await self._vmacs.remove(s.vmac)
        self._registry.close_all()
        for a in self._announcers.values():
            a.close()
        self._announcers.clear()
        log.debug("shutdown: closing the reflector")
        if self._reflector is not None:
            await self._reflector.close()
        log.debug("shutdown: waiting for notify scripts")
        await self._notifier.aclose(timeout=2.0, fifo_script_grace=0.5)
        log.debug("shutdown: done")

    # ------------------------------------------------------------------ events in

    def _on_readable(self, sock: VrrpSocket) -> None:
        host = self.host
        if host is None:
            return
        link = sock.fileno()
        for _ in range(256):  # bounded, so a flood cannot starve the timers
            try:
                r = sock.recv_nowait()
            except OSError as exc:
                log.debug("receive error on %s: %s", sock.ifname, exc)
                break
            if r is None:
                break
            now = self._arrival_us(r.stamp_ns)
            self._carry_out(host.receive(r.payload, src=r.src, dst=r.dst, ttl=r.ttl, link=link, now=now),
                            arm=False)
        self._arm()

    async def _reflect(self) -> None:
        try:
            await self._reflect_events()
        except asyncio.CancelledError:
            raise
        except Exception:  # without the reflector, interface tracking is blind: say so loudly
            log.exception("netlink reflector failed; track_interface no longer updates")

    async def _reflect_events(self) -> None:
        assert self._reflector is not None
        async for event in self._reflector.events():
            if not isinstance(event, LinkEvent):
                continue
            if not event.deleted:
                self._follow_interface(event)  # before tracking can bring an instance back through BACKUP
            now = self.now_us()
            for inst in self.instances:
                tname = inst.settings.tracked_interfaces.get(event.ifname)
                if tname is None or self.host is None:
                    continue
                log.info("(%s) Interface %s is %s", inst.name, event.ifname, "up" if event.up else "down")
                self._carry_out(self.host.set_tracker_state(inst.name, tname, event.up, now))

    def _follow_interface(self, event: LinkEvent) -> None:
        """An interface of ours came back under a new index (deleted and re-created: a hot-plugged NIC, a
        rebuilt bond or VLAN, a veth a container runtime recreated): re-bind the VRRP sockets and re-join
        their groups, re-open the GARP/NA sender and re-read the MAC, as keepalived re-reads its interface
        (``vrrp_if``/netlink link handling).  The instance itself went FAULT while the interface was missing
        (its interface is tracked) and comes back through BACKUP; a new Master adds its VIPs again."""
        users = [i for i in self.instances if event.ifname in (i.settings.interface, i.settings.parent_interface)]
        if not users:
            return
        try:
            moved = self._registry.rebind(event.ifname)
        except OSError as exc:  # ENODEV: a late event for an interface already gone again
            level = logging.DEBUG if exc.errno == errno.ENODEV else logging.WARNING
            log.log(level, "interface %s (index %d): cannot re-bind the VRRP sockets: %s", event.ifname,
                    event.ifindex, exc)
            return
        old = self._announcers.get(event.ifname)
        if not moved and (old is None or old.ifindex == event.ifindex):
            return
        log.warning("interface %s re-created (index %d): VRRP sockets re-bound", event.ifname, event.ifindex)
        if old is not None and old.ifindex != event.ifindex:
            old.close()
            del self._announcers[event.ifname]
        for inst in users:
            if inst.settings.interface != event.ifname:
                continue
            if old is not None and inst.announcer is old:
                try:
                    inst.announcer = self._announcer(event.ifname)
                except OSError as exc:
                    inst.announcer = None
                    log.warning("(%s) cannot send gratuitous ARP/NA on %s: %s", inst.name, event.ifname, exc)
            self._tasks.append(asyncio.create_task(self._reread_mac(inst), name=f"mac {inst.name}"))

    async def _reread_mac(self, inst: Instance) -> None:
        """The re-created interface's MAC (a new veth or NIC has a new one): what GARP/NA announce."""
        try:
            inst.mac = await self._mac(inst.settings.interface)
        except Exception as exc:  # gone again, or netlink failed: keep the old one, say why
            log.warning("(%s) cannot re-read the MAC of %s: %s", inst.name, inst.settings.interface, exc)

    async def _stop_trackers(self) -> None:
        tasks, self._tracker_tasks = self._tracker_tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _tracker_key(self) -> tuple[object, ...]:
        """What the running trackers depend on: their definitions and which of them instances track."""
        s = self.settings
        used = [(k, n) for i in self.instances
                for k, names in (("s", i.settings.tracked_scripts), ("f", i.settings.tracked_files),
                                 ("p", i.settings.tracked_processes)) for n in names]
        return s.scripts, s.files, s.processes, s.script_security, tuple(sorted(set(used)))

    def _start_trackers(self) -> None:
        s = self.settings
        for sc in s.scripts:
            if not any(sc.name in i.settings.tracked_scripts for i in self.instances):
                continue
            if not self._script_allowed(sc.script, f"vrrp_script {sc.name}"):
                continue
            tracker = ScriptTracker(sc, self._on_tracker)
            self._tracker_tasks.append(asyncio.create_task(tracker.run(), name=f"vrrp_script {sc.name}"))
        for fs in s.files:
            if not any(fs.name in i.settings.tracked_files for i in self.instances):
                continue
            ft = FileTracker(fs, self._on_tracker)
            self._tracker_tasks.append(asyncio.create_task(ft.run(), name=f"track_file {fs.name}"))
        procs = [p for p in s.processes if any(p.name in i.settings.tracked_processes for i in self.instances)]
        if procs:
            pt = ProcessTracker(procs, self._on_tracker)
            self._tracker_tasks.append(asyncio.create_task(pt.run(), name="vrrp_track_process"))

    def _script_allowed(self, script: Script, what: str) -> bool:
        """The check ``pykeepalived -t`` reports with (``script_refusal``): a refused script never runs."""
        why = script_refusal(script.argv, script.user, script_security=self.settings.script_security)
        if why is not None:
            log.error("%s: %s - disabling", what, why)
            return False
        return True

    def _on_tracker(self, update: TrackerUpdate) -> None:
        now = self.now_us()
        for inst in self.instances:
            s = inst.settings
            table = {
                TrackerKind.SCRIPT: s.tracked_scripts,
                TrackerKind.FILE: s.tracked_files,
                TrackerKind.PROCESS: s.tracked_processes,
            }[update.kind]
            tname = table.get(update.name)
            if tname is None or self.host is None:
                continue
            routed = TrackerUpdate(update.kind, tname, update.up, update.value, update.now)
            self._carry_out(self.host.event(inst.name, partial(deliver, routed), now))

    def _fire(self) -> None:
        self._timer = None
        armed, self._armed = self._armed, None
        if self.host is None:
            return
        now = self.now_us()
        if armed is not None and armed[1] and armed[0] - now > _EARLY_US + 1000:
            # the coarse stage of a long wait (see _SLACK_DIVISOR): now the precise one.  No cyclic GC
            # until the takeover is sent: a young-generation collection (up to GC_GEN0_THRESHOLD objects)
            # triggered on the takeover path would delay the first advert by milliseconds
            if gc.isenabled():
                gc.disable()
                self._gc_paused = True
            self._arm()
            return
        if armed is not None and 0 < armed[0] - now <= _EARLY_US + 1000:
            deadline, early = armed
            if early:
                # a Backup's takeover armed early (see _arm): wait out the last fraction of a millisecond
                time.sleep((deadline - now) / 1_000_000)
                now = max(self.now_us(), deadline)
            else:
                now = deadline  # float rounding of the loop clock; an advert < 1 ms early is harmless
        try:
            self._carry_out(self.host.handle_timers(now))
        finally:
            if self._gc_paused:
                self._gc_paused = False
                gc.enable()

    # ------------------------------------------------------------------ actions out

    def _carry_out(self, pairs: list[Pair], *, arm: bool = True) -> None:
        """Carry out what the host returned, in its order (adverts first), then re-arm the timer."""
        for name, action in pairs:
            try:
                self._execute(name, action)
            except Exception:  # one failed action must not stop the others (or the loop)
                log.exception("(%s) cannot carry out %s", name or "host", type(action).__name__)
        if arm:
            self._arm()

    def _arm(self) -> None:
        host = self.host
        due = host.next_timer() if host is not None else None
        if due is None:
            want = None
        else:
            # epoll sleeps in whole milliseconds, rounded up, plus the kernel's slack: a Backup's
            # Master_Down_Timer is armed early (1 ms, plus the slack of a long wait: _SLACK_DIVISOR) and
            # finished in _fire, so a takeover is not late (Master adverts do not need it)
            assert host is not None
            early = 0
            if host.router(due[1]).state is State.BACKUP:
                early = _EARLY_US + max(0, due[0] - self.now_us()) // _SLACK_DIVISOR
            want = (due[0], early)
        if want is not None and self._armed is not None and self._timer is not None \
                and want[0] == self._armed[0] and (want[1] == 0) == (self._armed[1] == 0):
            return  # the same deadline, already armed (a re-arm only moves the coarse stage)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed = want
        if want is not None:
            self._timer = self.loop.call_at((want[0] - want[1]) / 1_000_000, self._fire)

    def _execute(self, name: str | None, action: HostAction) -> None:
        inst = self._by_name[name] if name is not None else None
        match action:
            case SendAdvertisement():
                assert inst is not None
                self._send(inst, action)
            case StateChanged():
                assert inst is not None
                self._state_changed(inst, action)
            case AddVips():
                assert inst is not None
                inst.jobs.put_nowait(partial(self._add_vips, inst, action))
            case RemoveVips():
                assert inst is not None
                inst.jobs.put_nowait(partial(self._remove_vips, inst, action))
            case SendGratuitous():
                assert inst is not None
                inst.jobs.put_nowait(partial(self._schedule_garp, inst, action))
            case ReceivedLowerPriority():
                # keepalived's notify_master_rx_lower_pri: the router decided (valid advert, handled as Master)
                assert inst is not None
                log.info("(%s) Received advert from %s with lower priority %d, ours %d%s", inst.name, action.src,
                         action.priority, inst.router.effective_priority,
                         "" if inst.settings.lower_prio_no_advert else ", forcing new election")
                self._notifier.master_rx_lower_pri(inst.name, inst.router.effective_priority, inst.settings.notify)
            case PacketDiscarded():
                if inst is None:
                    log.debug("VRRP packet from %s dropped (%s): %s", action.src, action.reason.value, action.detail)
                else:
                    log.debug("(%s) packet from %s discarded: %s %s", inst.name, action.src, action.reason.value,
                              action.detail)
            case PriorityChanged():
                assert inst is not None
                log.info("(%s) Changing effective priority from %d to %d", inst.name, action.old, action.new)
                if inst.settings.notify_priority_changes and action.state in (State.MASTER, State.BACKUP):
                    self._notifier.priority_change(inst.name, NotifyState(action.state.value), action.new)
            case SyncGroupStateChanged():
                log.info("VRRP_Group(%s) Syncing instances to %s state", action.group, action.state.value)
                _call_all(self.hooks.group_changed, action.group, action.state)
                self._notifier.group(action.group, NotifyState(action.state.value), self._group_notify[action.group])
            case OldChecksumAdopted():
                assert inst is not None
                inst.old_checksum = True
                log.info("(%s) Setting unicast VRRPv3 checksum to old version", inst.name)
            case _:
                assert_never(action)

    def _send(self, inst: Instance, action: SendAdvertisement) -> None:
        s = inst.settings
        adv = action.advertisement()
        for dst in inst.targets():
            summed = s.dst_group if inst.old_checksum else dst  # the old form sums over the group, not the peer
            payload = encode(adv, family=s.af, src=inst.src, dst=summed, checksum_form=action.checksum_form)
            try:
                inst.sock.send(payload, src=inst.src, dst=dst, ttl=s.unicast_ttl if s.unicast else None)
            except OSError as exc:
                self._send_failed(inst, f"advert to {dst}", exc)

    def _send_failed(self, inst: Instance, what: str, exc: OSError) -> None:
        """Count a failed send and say so at WARNING, at most once per _SEND_ERROR_LOG_INTERVAL_S."""
        self.stats.send_errors += 1
        inst.send_errors_unlogged += 1
        now = time.monotonic()
        if now - inst.send_error_logged_at < _SEND_ERROR_LOG_INTERVAL_S:
            return
        more = inst.send_errors_unlogged - 1
        inst.send_errors_unlogged, inst.send_error_logged_at = 0, now
        log.warning("(%s) cannot send %s on %s: %s%s", inst.name, what, inst.sock.ifname, exc.strerror or exc,
                    f" (and {more} more send errors since the last report)" if more else "")

    def _state_changed(self, inst: Instance, change: StateChanged) -> None:
        inst.transitions.append((time.time(), change.old.value, change.new.value, change.reason.value))
        _call_all(self.hooks.state_changed, inst.name, change.old, change.new)
        # keepalived's words where users grep for them ("(VI_1) Entering MASTER STATE"); the reason on its own line
        if change.new is State.INIT:
            self._cancel_garp(inst)
            if change.old is State.MASTER:
                log.info("(%s) sent 0 priority", inst.name)
            log.info("(%s) transition reason: %s", inst.name, change.reason.value)
            log.info("(%s) Entering STOP STATE", inst.name)
            self._notifier.instance(inst.name, NotifyState.STOP, change.priority, inst.settings.notify)
            return
        if change.old is State.MASTER:
            self._cancel_garp(inst)
        if change.reason in (TransitionReason.MASTER_NO_RESPONSE, TransitionReason.PRIORITY_ZERO):
            log.info("(%s) Receive advertisement timeout", inst.name)
        log.info("(%s) transition reason: %s", inst.name, change.reason.value)
        init = " (init)" if change.old is State.INIT and change.new is State.BACKUP else ""
        log.info("(%s) Entering %s STATE%s", inst.name, change.new.value, init)
        self._notifier.instance(inst.name, NotifyState(change.new.value), change.priority, inst.settings.notify)

    # ------------------------------------------------------------------ netlink worker

    async def _netlink_worker(self, inst: Instance) -> None:
        while True:
            job = await inst.jobs.get()
            if job is None:
                return
            try:
                await job()
            except (AddressError, AcceptFilterError, OSError) as exc:
                self.stats.netlink_errors += 1
                log.error("(%s) %s", inst.name, exc)
            except Exception:
                self.stats.netlink_errors += 1
                log.exception("(%s) netlink job failed", inst.name)

    async def _add_vips(self, inst: Instance, action: AddVips) -> None:
        assert self._netlink is not None
        if inst.router.state is not State.MASTER:
            return  # a later transition already took mastership away: its RemoveVips follows
        ips = tuple(dict.fromkeys(va.address.ip for va in action.install))
        new = tuple(ip for ip in ips if ip not in inst.blocked)
        if not action.accept and new:
            # Accept_Mode off: the drop rules go in before the addresses, so no packet slips through (a reload
            # that adds VIPs to a Master blocks just the new ones)
            await self._accept.block(new)
            if not inst.blocked:
                log.info("(%s) accept mode off: dropping traffic addressed to the VIPs", inst.name)
            inst.blocked += new
        log.info("(%s) setting VIPs.", inst.name)
        self._join_solicited_nodes(inst, ips)
        for va in action.install:
            await self._netlink.add_address(va)
        for route in action.routes:
            await self._netlink.add_route(route)
        for rule in action.rules:
            await self._netlink.add_rule(rule)

    async def _remove_vips(self, inst: Instance, action: RemoveVips) -> None:
        assert self._netlink is not None
        log.info("(%s) removing VIPs.", inst.name)
        for rule in reversed(action.rules):
            await self._netlink.remove_rule(rule)
        for route in reversed(action.routes):
            await self._netlink.remove_route(route)
        for va in action.install:
            await self._netlink.remove_address(va)
        self._leave_solicited_nodes(inst, tuple(dict.fromkeys(va.address.ip for va in action.install)))
        removed = set(va.address.ip for va in action.install)
        gone = tuple(ip for ip in inst.blocked if ip in removed)
        if gone:  # all of them when leaving MASTER; the removed ones on a reload
            inst.blocked = tuple(ip for ip in inst.blocked if ip not in removed)
            await self._accept.unblock(gone)

    def _join_solicited_nodes(self, inst: Instance, ips: tuple[IPAddress, ...]) -> None:
        """RFC 9568 §6.4.2: a new Master joins the Solicited-Node group of each IPv6 VIP.

        The kernel joins it too for an address it holds, but only on the address's own interface and only
        once the address exists; our membership on the instance interface makes NS for the VIP reach the
        Master from the moment it takes over (and with a VMAC or a VIP on another device).
        """
        if inst.announcer is None:
            return
        for ip in ips:
            if isinstance(ip, ipaddress.IPv6Address):
                try:
                    inst.announcer.join_solicited_node(ip)
                except OSError as exc:
                    log.warning("(%s) cannot join the solicited-node group of %s: %s", inst.name, ip, exc)

    def _leave_solicited_nodes(self, inst: Instance, ips: tuple[IPAddress, ...]) -> None:
        if inst.announcer is None:
            return
        for ip in ips:
            if isinstance(ip, ipaddress.IPv6Address):
                inst.announcer.leave_solicited_node(ip)

    async def _schedule_garp(self, inst: Instance, action: SendGratuitous) -> None:
        """The action's whole schedule: bursts now (after the VIPs: this runs on the netlink worker), a second
        burst and the refresh rounds later.  Leaving MASTER cancels what is pending (``_state_changed``)."""
        if inst.router.state is not State.MASTER or inst.announcer is None:
            return
        schedule = AnnouncementSchedule(
            repeat=max(1, action.repeat),
            delay=action.second_burst_us / 1_000_000,
            interval=action.interval_us / 1_000_000,
            refresh=action.refresh_us / 1_000_000,
            refresh_repeat=action.refresh_repeat,
        )
        for ip in action.addresses:
            kind = "gratuitous ARPs" if ip.version == 4 else "Unsolicited Neighbour Adverts"
            log.info("(%s) Sending/queueing %s on %s for %s", inst.name, kind, self._vip_dev(inst, ip), ip)
        now = self.loop.time()
        inst.garp_handles = [h for h in inst.garp_handles if not h.cancelled() and h.when() > now]
        for t in schedule.on_master(now):
            inst.garp_handles.append(self.loop.call_at(t, self._garp_round, inst, action.addresses))
        self._schedule_refresh(inst, schedule, action.addresses, now)

    def _schedule_refresh(
        self, inst: Instance, schedule: AnnouncementSchedule, addresses: tuple[IPAddress, ...], now: float
    ) -> None:
        times = schedule.next_refresh(now)
        for t in times:
            inst.garp_handles.append(self.loop.call_at(t, self._garp_round, inst, addresses))
        if times:
            inst.garp_handles.append(
                self.loop.call_at(times[0], self._schedule_refresh, inst, schedule, addresses, times[0])
            )

    @staticmethod
    def _vip_dev(inst: Instance, ip: IPAddress) -> str:
        """The interface a VIP lives on (``dev`` in its line; the instance's interface, or VMAC, by default)."""
        for vip in (*inst.settings.vips, *inst.settings.excluded_vips):
            if vip.address.ip == ip:
                return vip.dev
        return inst.settings.interface

    def _garp_round(self, inst: Instance, addresses: tuple[IPAddress, ...]) -> None:
        """One round: each address announced on the interface it lives on, as keepalived sends it (a gateway
        VIP on the back LAN must be announced there, or the real servers keep the dead director's MAC)."""
        if inst.router.state is not State.MASTER or inst.announcer is None:
            return
        for ip in addresses:
            what = "gratuitous ARP" if ip.version == 4 else "Unsolicited Neighbour Advert"
            dev = self._vip_dev(inst, ip)
            log.debug("Sending %s on %s for %s", what, dev, ip)
            try:
                if dev == inst.settings.interface:
                    inst.announcer.announce(ip, inst.mac)
                else:
                    other = self._announcer(dev)
                    other.announce(ip, other.sock.getsockname()[4])
            except OSError as exc:
                self._send_failed(inst, f"gratuitous ARP/NA for {ip}", exc)

    def _cancel_garp(self, inst: Instance) -> None:
        for h in inst.garp_handles:
            h.cancel()
        inst.garp_handles.clear()

    # ------------------------------------------------------------------ dumps

    def snapshot(self) -> dict[str, Any]:
        """State and counters of every instance (what SIGUSR2 / SIGRTMIN+2 write)."""
        return {
            "pid": os.getpid(),
            "started": self._started_at,
            "daemon": self._host_counters(),
            "instances": {
                i.name: {
                    "state": i.router.state.value,
                    "vrid": i.settings.vrid,
                    "interface": i.settings.interface,
                    "family": i.settings.family,
                    "source": str(i.src),
                    "base_priority": i.router.base_priority,
                    "effective_priority": i.router.effective_priority,
                    "master_adver_interval_cs": i.router.master_adver_interval_cs,
                    "stats": {
                        **{k: v for k, v in asdict(i.router.stats).items() if k != "new_master_reason"},
                        "new_master_reason": (
                            i.router.stats.new_master_reason.value if i.router.stats.new_master_reason else None
                        ),
                    },
                    "transitions": [
                        {"t": t, "from": a, "to": b, "reason": why} for t, a, b, why in i.transitions
                    ],
                }
                for i in self.instances
            },
            "sync_groups": {
                name: st.value for name, st in (self.host.group_states() if self.host is not None else {}).items()
            },
        }

    def _host_counters(self) -> dict[str, Any]:
        """The shell's counters and the host layer's: packets no instance owns, by reason.  ``short`` and
        ``unknown_vrid`` are the ``length`` and ``vrid`` discards under the names earlier dumps used."""
        discards = dict(self.host.stats.discards) if self.host is not None else {}
        own = self.host.stats.own_packets if self.host is not None else 0
        return {
            **asdict(self.stats),
            "discards": discards,
            "own_packets": own,
            "short": discards.get("length", 0),
            "unknown_vrid": discards.get("vrid", 0),
        }

    def _on_dump(self, kind: str) -> None:
        """A dump signal: keepalived's file (the ``dump`` hook), our own JSON, and for STATS_CLEAR the counters
        zeroed afterwards (keepalived writes the stats, then clears them)."""
        if self.hooks.dump is not None:
            try:
                self.hooks.dump(kind, self)
            except Exception:
                log.exception("cannot write the %s dump", kind)
        self._write_own_dump()
        if kind == "stats_clear":
            for inst in self.instances:
                inst.router.stats = RouterStats()
            if self.host is not None:
                self.host.stats.discards.clear()
                self.host.stats.own_packets = 0
            self.stats = DaemonStats()

    def _write_own_dump(self) -> None:
        """``OWN_DUMP`` in the dump directory, mode 0600: written to a fresh temporary name (``mkstemp``:
        O_EXCL, so a planted link is never followed) and renamed over the target (a rename replaces a link,
        it does not write through it)."""
        path = self.dump_dir / OWN_DUMP
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{OWN_DUMP}.", dir=self.dump_dir)
        except OSError as exc:
            log.error("cannot write %s: %s", path, exc.strerror)
            return
        try:
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(self.snapshot(), indent=2, sort_keys=True) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            log.error("cannot write %s: %s", path, exc.strerror)
            return
        log.debug("Wrote %s", path)

def _old_checksum_mode(s: InstanceSettings) -> OldChecksum:
    modes: dict[str, OldChecksum] = {"auto": "auto", "never": "never", "always": "always"}
    mode = modes.get(s.old_unicast_checksum)
    if mode is None:
        raise DaemonError(f"({s.name}) old_unicast_checksum must be auto, never or always, "
                          f"not {s.old_unicast_checksum!r}")
    return mode


def _same_io(a: InstanceSettings, b: InstanceSettings) -> bool:
    """The instance keeps its sockets, source address and VMAC across a reload."""
    return (a.interface, a.parent_interface, a.family, a.vmac, a.unicast, a.dst_group, a.src_ip) == (
        b.interface, b.parent_interface, b.family, b.vmac, b.unicast, b.dst_group, b.src_ip)
