"""The interface every IPVS backend implements (kernel netlink, in-memory oracle).

Async because the kernel backend talks netlink through asyncio; the memory backend simply never awaits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ipvs.model import (
    Connection,
    Destination,
    DestKey,
    Info,
    Service,
    ServiceKey,
    ServiceState,
    SyncDaemon,
    Timeouts,
)
from ipvs.ops import Op


class Backend(Protocol):
    """One IPVS table (one network namespace).

    Errors are :class:`ipvs.errors.IPVSError` carrying the kernel's errno.
    """

    async def list_services(self) -> list[ServiceState]:
        """Every service with its destinations, counters and statistics."""
        ...

    async def get_service(self, key: ServiceKey) -> ServiceState | None:
        """One service with its destinations, or None when it does not exist (cheap: no full dump)."""
        ...

    async def add_service(self, svc: Service) -> None: ...

    async def edit_service(self, svc: Service) -> None: ...

    async def delete_service(self, key: ServiceKey) -> None: ...

    async def add_dest(self, key: ServiceKey, dest: Destination) -> None: ...

    async def edit_dest(self, key: ServiceKey, dest: Destination) -> None: ...

    async def delete_dest(self, key: ServiceKey, dest: DestKey) -> None: ...

    async def flush(self) -> None:
        """Delete every service of the table (ipvsadm -C). The sync engine never calls it."""
        ...

    async def zero(self, key: ServiceKey | None = None) -> None:
        """Zero the counters of one service, or of all services when ``key`` is None (ipvsadm -Z)."""
        ...

    async def get_timeouts(self) -> Timeouts: ...

    async def set_timeouts(self, timeouts: Timeouts) -> None: ...

    async def get_info(self) -> Info: ...

    async def apply_batch(self, ops: Sequence[Op]) -> list[BaseException | None]:
        """Apply ``ops`` in order, returning one result per op (None or the IPVSError); never stops early."""
        ...

    async def list_daemons(self) -> list[SyncDaemon]:
        """The running connection-sync daemons (at most one master and one backup)."""
        ...

    async def start_daemon(self, daemon: SyncDaemon) -> None:
        """Start a sync daemon; EEXIST when one of that state runs already."""
        ...

    async def stop_daemon(self, state: int) -> None:
        """Stop the sync daemon of ``state``; ESRCH when none runs."""
        ...

    async def list_connections(self) -> list[Connection]:
        """The connection table (what ``ipvsadm -c`` lists)."""
        ...

    async def close(self) -> None: ...

