"""keepalived's ``lvs_sync_daemon``: the kernel's IPVS connection-sync daemon, run as master on the director whose
VRRP instance is MASTER and as backup elsewhere, so established connections survive a director failover.

keepalived 2.2.7's rules (``global_parser.c`` lvs_syncd_handler, ``vrrp.c`` vrrp_state_become_master /
vrrp_state_leave_master, ``vrrp_scheduler.c`` vrrp_init_state, ``vrrp_daemon.c`` stop and reload,
``check_daemon.c``):

* ``lvs_sync_daemon INTERFACE [[inst] VRRP_INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group IP]`` in
  ``global_defs`` (the old positional ``INTERFACE VRRP_INSTANCE SYNC_ID`` form too), or the deprecated
  ``lvs_sync_daemon_interface INTERFACE`` inside a ``vrrp_instance``.  ``id`` defaults to the instance's VRID.
* With an instance, the **VRRP process** runs it: backup when the instance starts, master (and no backup) while
  the instance is MASTER, backup again when it leaves MASTER (to BACKUP or FAULT), stopped when the process
  stops.  One role at a time: keepalived stops the backup before it starts the master, and the reverse.
* Without an instance, the **checker process** runs both a master and a backup from start to stop.

This module holds the decisions, pure (:func:`build_syncd`, :func:`desired_daemons`, :func:`plan_daemons`), and
one small keeper (:class:`SyncdKeeper`) that converges the kernel onto the desired daemons through an
``ipvs.backend.Backend``: desired state, then converge, as the IPVS table is kept.  Converging (rather than
replaying commands) also stops a daemon a crashed predecessor left running in the wrong role.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import assert_never

from ipvs.backend import Backend
from ipvs.errors import IPVSError
from ipvs.model import STATE_BACKUP, STATE_MASTER, SyncDaemon
from pykeepalived.config import model
from vrrp.io.spec import SettingsError

log = logging.getLogger("pykeepalived.syncd")

#: IP_VS_IFNAME_MAXLEN: the kernel's limit on the interface name, terminating NUL included
IFNAME_MAXLEN = 16
_WHERE = "global_defs: lvs_sync_daemon"


@dataclass(frozen=True)
class SyncdSettings:
    """One configured sync daemon.  ``instance`` is the VRRP instance it follows (None: the checker process runs
    master and backup at once); 0 / None for ``maxlen``, ``port``, ``ttl``, ``group`` leave the kernel's default
    (maxlen from the MTU, port 8848, ttl 1, group 224.0.0.81)."""

    interface: str
    instance: str | None
    syncid: int
    maxlen: int = 0
    port: int = 0
    ttl: int = 0
    group: str | None = None

    def daemon(self, state: int) -> SyncDaemon:
        return SyncDaemon(state, self.interface, self.syncid, self.maxlen, self.group, self.port, self.ttl)


def _number(words: Sequence[str], i: int, name: str, low: int, high: int) -> int:
    if i >= len(words):
        raise SettingsError(f"{_WHERE}: no value specified for {name}")
    text = words[i]
    if not text.isdigit() or not low <= int(text) <= high:
        raise SettingsError(f"{_WHERE}: invalid {name} ({text}): expected {low}..{high}")
    return int(text)


def build_syncd(cfg: model.KeepalivedConfig) -> SyncdSettings | None:
    """The sync daemon ``cfg`` asks for, or None; :class:`SettingsError` for a value we cannot honour (keepalived
    reports those and carries on without them; a drop-in that silently did less would hide the mistake)."""
    words = cfg.global_defs.lvs_sync_daemon
    legacy = [i for i in cfg.vrrp_instances if i.lvs_sync_daemon_interface]
    if not words and not legacy:
        return None
    if words and legacy:
        raise SettingsError(f"{legacy[0].location}: vrrp_instance {legacy[0].name}: lvs_sync_daemon_interface: "
                            f"lvs_sync_daemon has already been specified in global_defs")
    if not words:
        if len(legacy) > 1:
            raise SettingsError(f"{legacy[1].location}: vrrp_instance {legacy[1].name}: lvs_sync_daemon_interface "
                                f"has already been specified by vrrp_instance {legacy[0].name}")
        inst = legacy[0]
        assert inst.lvs_sync_daemon_interface is not None
        words = (inst.lvs_sync_daemon_interface, "inst", inst.name)
    ifname, instance = words[0], None
    if len(ifname) >= IFNAME_MAXLEN:
        raise SettingsError(f"{_WHERE}: interface name '{ifname}' too long")
    syncid: int | None = None
    maxlen = port = ttl = 0
    group: str | None = None
    i = 1
    while i < len(words):
        word = words[i]
        if word == "inst":
            if i + 1 >= len(words):
                raise SettingsError(f"{_WHERE}: no value specified for inst")
            if instance is not None:
                raise SettingsError(f"{_WHERE}: vrrp instance has already been specified as {instance}")
            instance = words[i + 1]
        elif word == "id":
            syncid = _number(words, i + 1, "id", 0, 255)
        elif word == "maxlen":
            maxlen = _number(words, i + 1, "maxlen", 1, 65535 - 20 - 8)
        elif word == "port":
            port = _number(words, i + 1, "port", 1, 65535)
        elif word == "ttl":
            ttl = _number(words, i + 1, "ttl", 1, 255)
        elif word == "group":
            if i + 1 >= len(words):
                raise SettingsError(f"{_WHERE}: no value specified for group")
            try:
                addr = ipaddress.ip_address(words[i + 1])
            except ValueError:
                raise SettingsError(f"{_WHERE}: invalid group ({words[i + 1]})") from None
            if not addr.is_multicast:
                raise SettingsError(f"{_WHERE}: group address {addr} is not multicast")
            group = str(addr)
        elif i == 1 and instance is None:  # the old form: lvs_sync_daemon IF VRRP_INSTANCE [SYNC_ID]
            instance = word
            i += 1
            continue
        elif i == 2 and syncid is None:
            syncid = _number(words, 2, "syncid", 0, 255)
            i += 1
            continue
        else:
            raise SettingsError(f"{_WHERE}: unknown option {word}")
        i += 2
    if instance is not None:
        followed = next((v for v in cfg.vrrp_instances if v.name == instance), None)
        if followed is None:
            raise SettingsError(f"{_WHERE}: unable to find vrrp instance {instance}")
        if syncid is None:
            syncid = followed.virtual_router_id or 0  # keepalived: no id given, the instance's VRID
    return SyncdSettings(ifname, instance, syncid or 0, maxlen, group=group, port=port, ttl=ttl)


# ---------------------------------------------------------------------------------------------- decisions


def desired_daemons(settings: SyncdSettings | None, *, master: bool | None) -> tuple[SyncDaemon, ...]:
    """The daemons that must run: with an instance, one role by its state (``master`` True: MASTER, False: any
    other running state, None: stopped); without one, master and backup while running (``master`` not None)."""
    if settings is None or master is None:
        return ()
    if settings.instance is None:
        return settings.daemon(STATE_MASTER), settings.daemon(STATE_BACKUP)
    return (settings.daemon(STATE_MASTER if master else STATE_BACKUP),)


@dataclass(frozen=True)
class StopDaemon:
    state: int


@dataclass(frozen=True)
class StartDaemon:
    daemon: SyncDaemon


DaemonOp = StopDaemon | StartDaemon


def _matches(running: SyncDaemon, want: SyncDaemon) -> bool:
    """The kernel fills in its defaults (maxlen, group, port, ttl): only what we set must agree."""
    return (running.mcast_ifn == want.mcast_ifn and running.syncid == want.syncid
            and (not want.sync_maxlen or running.sync_maxlen == want.sync_maxlen)
            and (want.mcast_group is None or running.mcast_group == want.mcast_group)
            and (not want.mcast_port or running.mcast_port == want.mcast_port)
            and (not want.mcast_ttl or running.mcast_ttl == want.mcast_ttl))


def plan_daemons(desired: Sequence[SyncDaemon], running: Sequence[SyncDaemon]) -> list[DaemonOp]:
    """The fewest commands from ``running`` to ``desired``: stops first (keepalived stops the backup before it
    starts the master), then starts; a daemon whose settings changed is stopped and started again."""
    want = {d.state: d for d in desired}
    have = {d.state: d for d in running}
    stops: list[DaemonOp] = [StopDaemon(s) for s, d in sorted(have.items())
                             if s not in want or not _matches(d, want[s])]
    starts: list[DaemonOp] = [StartDaemon(d) for s, d in sorted(want.items())
                              if s not in have or not _matches(have[s], d)]
    return stops + starts


# ---------------------------------------------------------------------------------------------- the keeper


class SyncdKeeper:
    """Keeps the kernel's sync daemons equal to the last :meth:`want`; one converge at a time, coalesced.

    ``backend`` makes the IPVS backend on first use (an OSError when IPVS cannot be opened is logged and tried
    again at the next :meth:`want`); :meth:`close` closes it when ``owns_backend``.  ``writes`` counts start/stop
    commands (the tests read it)."""

    def __init__(self, backend: Callable[[], Backend], *, owns_backend: bool = True) -> None:
        self._make = backend
        self._owns = owns_backend
        self._backend: Backend | None = None
        self._desired: tuple[SyncDaemon, ...] = ()
        self._kick = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        #: what we started, per state: the kernel reports its clamped maxlen and filled-in defaults, so a daemon
        #: is compared with what it was started with (else a clamped maxlen would restart it at every converge)
        self._started: dict[int, SyncDaemon] = {}
        self.writes = 0

    @property
    def desired(self) -> tuple[SyncDaemon, ...]:
        return self._desired

    def want(self, desired: tuple[SyncDaemon, ...]) -> None:
        """Ask for ``desired`` (never blocks; the loop's task carries it out)."""
        self._desired = desired
        self._idle.clear()
        self._kick.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="lvs_sync_daemon")

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until the kernel holds what was last asked for (or ``timeout`` passes)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def close(self, timeout: float = 5.0) -> None:
        await self.settle(timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._backend is not None and self._owns:
            with contextlib.suppress(Exception):
                await self._backend.close()
            self._backend = None

    async def _run(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            try:
                await self._converge(self._desired)
            except Exception:  # a failed command must never take the VRRP loop down; the next want retries
                log.exception("IPVS sync daemon: cannot converge")
            if not self._kick.is_set():
                self._idle.set()

    async def _converge(self, desired: tuple[SyncDaemon, ...]) -> None:
        if self._backend is None:
            try:
                self._backend = self._make()
            except OSError as exc:
                log.error("IPVS: Can't initialize ipvs: %s", exc.strerror or exc)
                return
        backend = self._backend
        try:
            listed = await backend.list_daemons()
        except (IPVSError, OSError) as exc:
            log.error("IPVS: cannot list the sync daemons: %s", exc)
            return
        running = []
        for d in listed:
            ours = self._started.get(d.state)
            same = ours is not None and (ours.mcast_ifn, ours.syncid) == (d.mcast_ifn, d.syncid)
            running.append(ours if same and ours is not None else d)
        for op in plan_daemons(desired, running):
            self.writes += 1
            try:
                match op:
                    case StopDaemon():
                        self._started.pop(op.state, None)
                        await backend.stop_daemon(op.state)
                        log.info("IPVS: stopped the %s sync daemon",
                                 "master" if op.state == STATE_MASTER else "backup")
                    case StartDaemon():
                        d = op.daemon
                        await backend.start_daemon(d)
                        self._started[d.state] = d
                        log.info("IPVS: started the %s sync daemon (mcast=%s, syncid=%d)", d.state_name,
                                 d.mcast_ifn, d.syncid)
                    case _:
                        assert_never(op)
            except (IPVSError, OSError) as exc:
                log.error("IPVS: %s", exc)
