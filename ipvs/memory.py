"""In-memory IPVS table with the kernel's semantics (ip_vs_ctl.c): the oracle for differential tests.

It checks what the kernel checks, in the kernel's order, and fails with the kernel's errno, so a random
sequence of operations gives the same table and the same errors here and in a real network namespace. What it
cannot know (the routing table behind "address not unicast") it approximates by the address class alone.
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ipvs.backend import Backend
from ipvs.errors import IPVSError
from ipvs.model import (
    AF_INET,
    AF_INET6,
    PERSISTENCE_ENGINES,
    SCHEDULERS,
    STATE_BACKUP,
    STATE_MASTER,
    Connection,
    Destination,
    DestKey,
    DestState,
    Forward,
    Info,
    Service,
    ServiceKey,
    ServiceState,
    Stats,
    SyncDaemon,
    Timeouts,
    TunType,
)
from ipvs.ops import Op, OpKind

INT32_MAX = 0x7FFFFFFF


@dataclass
class _Entry:
    service: Service
    dests: dict[DestKey, Destination] = field(default_factory=dict)


def _check_service_config(op: str, svc: Service, schedulers: frozenset[str], engines: frozenset[str]) -> None:
    """The checks ip_vs_add_service/ip_vs_edit_service make, in their order."""
    if svc.key.af not in (AF_INET, AF_INET6):
        raise IPVSError(errno.EAFNOSUPPORT, op)
    if svc.scheduler != "none" and svc.scheduler not in schedulers:
        raise IPVSError(errno.ENOENT, op, f"scheduler {svc.scheduler!r} not found")
    if svc.pe_name and svc.pe_name not in engines:
        raise IPVSError(errno.ENOENT, op, f"persistence engine {svc.pe_name!r} not found")
    if svc.key.af == AF_INET6 and not 1 <= svc.netmask <= 128:
        raise IPVSError(errno.EINVAL, op, f"IPv6 prefix length {svc.netmask} out of 1..128")


def _check_dest_config(op: str, dest: Destination) -> None:
    """The checks ip_vs_add_dest/ip_vs_edit_dest make before looking the destination up."""
    if dest.weight > INT32_MAX:  # the kernel's int weight reads as negative
        raise IPVSError(errno.ERANGE, op, "weight below zero")
    if dest.l_threshold > dest.u_threshold:
        raise IPVSError(errno.ERANGE, op, "lower threshold above upper threshold")
    if dest.tun_type == TunType.GUE and dest.tun_port == 0:
        raise IPVSError(errno.EINVAL, op, "GUE tunnel needs a port")
    # (remcsum with a non-GUE tunnel is refused by ipvsadm, not by the kernel)


def _unicast(key: DestKey) -> bool:
    """What ip_vs_new_dest accepts (given a default route): unicast or local, not link-local for IPv6."""
    a = ipaddress.ip_address(key.addr)
    if isinstance(a, ipaddress.IPv4Address):
        return not (a.is_multicast or a.is_unspecified or int(a) == 0xFFFFFFFF)
    return not (a.is_multicast or a.is_unspecified or a.is_link_local)


class MemoryBackend:
    """An IPVS table in a dict, implementing :class:`ipvs.backend.Backend`.

    ``schedulers`` and ``engines`` are what the "kernel" has loaded; the default is everything keepalived
    knows.
    ``ops_applied`` counts successful writes, so tests can assert how many operations a sync issued.
    """

    def __init__(
        self,
        schedulers: Iterable[str] = SCHEDULERS,
        engines: Iterable[str] = PERSISTENCE_ENGINES,
        info: Info | None = None,
        interfaces: dict[str, int] | None = None,
    ) -> None:
        self._table: dict[ServiceKey, _Entry] = {}
        self._schedulers = frozenset(schedulers)
        self._engines = frozenset(engines)
        self._timeouts = Timeouts()
        self._info = info or Info()
        self.ops_applied = 0
        self.ops_failed = 0
        #: interface name -> MTU, for the sync daemon (None: any name, MTU 1500)
        self._interfaces = interfaces
        self._daemons: dict[int, SyncDaemon] = {}
        #: the connection table; a test sets what ``list_connections`` returns (nothing here makes traffic)
        self.connections: list[Connection] = []

    # -- reads ---------------------------------------------------------------------------------------------

    @staticmethod
    def _state(e: _Entry) -> ServiceState:
        # the kernel adds destinations at the head of the service's list, so it lists the newest first
        return ServiceState(e.service, tuple(DestState(d) for d in reversed(e.dests.values())), Stats())

    async def list_services(self) -> list[ServiceState]:
        return [self._state(e) for e in self._table.values()]

    async def get_service(self, key: ServiceKey) -> ServiceState | None:
        e = self._table.get(key)
        return None if e is None else self._state(e)

    async def get_timeouts(self) -> Timeouts:
        return self._timeouts

    async def get_info(self) -> Info:
        return self._info

    # -- writes ------------------------------------------------------------------------------------------

    def _entry(self, op: str, key: ServiceKey) -> _Entry:
        entry = self._table.get(key)
        if entry is None:
            raise IPVSError(errno.ESRCH, op, str(key))
        return entry

    def _done(self) -> None:
        self.ops_applied += 1

    async def add_service(self, svc: Service) -> None:
        if svc.key in self._table:
            raise IPVSError(errno.EEXIST, "add_service", str(svc.key))
        _check_service_config("add_service", svc, self._schedulers, self._engines)
        self._table[svc.key] = _Entry(svc)
        self._done()

    async def edit_service(self, svc: Service) -> None:
        entry = self._entry("edit_service", svc.key)
        _check_service_config("edit_service", svc, self._schedulers, self._engines)
        entry.service = svc
        self._done()

    async def delete_service(self, key: ServiceKey) -> None:
        self._entry("delete_service", key)
        del self._table[key]
        self._done()

    def _check_dest_family(self, op: str, entry: _Entry, dest: Destination) -> None:
        if dest.key.af not in (AF_INET, AF_INET6):
            raise IPVSError(errno.EAFNOSUPPORT, op)
        if dest.key.af != entry.service.key.af and dest.forward != Forward.TUNNEL:
            raise IPVSError(errno.EINVAL, op, "mixed address families need tunnelling")

    async def add_dest(self, key: ServiceKey, dest: Destination) -> None:
        entry = self._entry("add_dest", key)
        self._check_dest_family("add_dest", entry, dest)
        _check_dest_config("add_dest", dest)
        if dest.key in entry.dests:
            raise IPVSError(errno.EEXIST, "add_dest", str(dest.key))
        if not _unicast(dest.key):
            raise IPVSError(errno.EINVAL, "add_dest", f"{dest.key.addr} is not unicast")
        entry.dests[dest.key] = dest
        self._done()

    async def edit_dest(self, key: ServiceKey, dest: Destination) -> None:
        entry = self._entry("edit_dest", key)
        self._check_dest_family("edit_dest", entry, dest)
        _check_dest_config("edit_dest", dest)
        if dest.key not in entry.dests:
            raise IPVSError(errno.ENOENT, "edit_dest", str(dest.key))
        entry.dests[dest.key] = dest
        self._done()

    async def delete_dest(self, key: ServiceKey, dest: DestKey) -> None:
        entry = self._entry("delete_dest", key)
        if dest.af not in (AF_INET, AF_INET6):
            raise IPVSError(errno.EAFNOSUPPORT, "delete_dest")
        if dest not in entry.dests:
            raise IPVSError(errno.ENOENT, "delete_dest", str(dest))
        del entry.dests[dest]
        self._done()

    async def flush(self) -> None:
        self._table.clear()
        self._done()

    async def zero(self, key: ServiceKey | None = None) -> None:
        if key is not None:
            self._entry("zero", key)
        self._done()

    async def set_timeouts(self, timeouts: Timeouts) -> None:
        cur = self._timeouts
        self._timeouts = Timeouts(
            timeouts.tcp or cur.tcp, timeouts.tcp_fin or cur.tcp_fin, timeouts.udp or cur.udp
        )
        self._done()

    async def apply_batch(self, ops: Sequence[Op]) -> list[BaseException | None]:
        results: list[BaseException | None] = []
        for op in ops:
            try:
                await apply_op(self, op)
            except IPVSError as e:
                self.ops_failed += 1
                results.append(e)
            else:
                results.append(None)
        return results

    async def list_daemons(self) -> list[SyncDaemon]:
        return [self._daemons[s] for s in (STATE_MASTER, STATE_BACKUP) if s in self._daemons]

    async def start_daemon(self, daemon: SyncDaemon) -> None:
        """ip_vs_genl_new_daemon + start_sync_thread: the defaults filled in, then the interface, then the state."""
        d = daemon
        group = d.mcast_group
        if group is not None and not ipaddress.ip_address(group).is_multicast:
            raise IPVSError(errno.EINVAL, "start_daemon", f"group {group} is not multicast")
        group = group or "224.0.0.81"
        if self._interfaces is None:
            mtu = 1500
        elif d.mcast_ifn in self._interfaces:
            mtu = self._interfaces[d.mcast_ifn]
        else:
            raise IPVSError(errno.ENODEV, "start_daemon", d.mcast_ifn)
        hlen = 48 if ":" in group else 28  # IP + UDP headers
        if d.state == STATE_BACKUP:
            top, low = min(max(mtu, 1500), 65535), 1024
        else:
            top, low = min(mtu, 65535), 1
        maxlen = min(max(d.sync_maxlen, low), top - hlen) if d.sync_maxlen else top - hlen
        if d.state not in (STATE_MASTER, STATE_BACKUP):
            raise IPVSError(errno.EINVAL, "start_daemon", f"state {d.state}")
        if d.state in self._daemons:
            raise IPVSError(errno.EEXIST, "start_daemon", d.state_name)
        self._daemons[d.state] = SyncDaemon(d.state, d.mcast_ifn, d.syncid, maxlen, group, d.mcast_port or 8848,
                                            d.mcast_ttl or 1)
        self._done()

    async def stop_daemon(self, state: int) -> None:
        if state not in self._daemons:
            raise IPVSError(errno.ESRCH, "stop_daemon", str(state))
        del self._daemons[state]
        self._done()

    async def list_connections(self) -> list[Connection]:
        return list(self.connections)

    async def close(self) -> None:
        return None


async def apply_op(b: Backend, op: Op) -> None:
    """Apply one :class:`Op` through a backend's per-operation methods."""
    if op.kind is OpKind.ADD_SERVICE:
        assert op.service is not None
        await b.add_service(op.service)
    elif op.kind is OpKind.EDIT_SERVICE:
        assert op.service is not None
        await b.edit_service(op.service)
    elif op.kind is OpKind.DELETE_SERVICE:
        await b.delete_service(op.key)
    elif op.kind is OpKind.ADD_DEST:
        assert op.dest is not None
        await b.add_dest(op.key, op.dest)
    elif op.kind is OpKind.EDIT_DEST:
        assert op.dest is not None
        await b.edit_dest(op.key, op.dest)
    else:
        assert op.dest_key is not None
        await b.delete_dest(op.key, op.dest_key)
