"""IPVS errors: one exception type carrying the kernel's errno, with ipvsadm's wording for the message.

Both backends raise :class:`IPVSError` with the same errno for the same mistake; the differential test
compares errnos, and the CLI prints ``message`` exactly as ipvsadm would.
"""

from __future__ import annotations

import errno
import os

# ipvsadm's libipvs ipvs_strerror() table: (operation, errno) -> message; operation None matches any.
_MESSAGES: dict[tuple[str | None, int], str] = {
    ("add_service", errno.EEXIST): "Service already exists",
    ("add_service", errno.ENOENT): "Scheduler or persistence engine not found",
    ("edit_service", errno.ESRCH): "No such service",
    ("edit_service", errno.ENOENT): "Scheduler or persistence engine not found",
    ("delete_service", errno.ESRCH): "No such service",
    ("zero", errno.ESRCH): "No such service",
    ("add_dest", errno.ESRCH): "Service not defined",
    ("add_dest", errno.EEXIST): "Destination already exists",
    ("edit_dest", errno.ESRCH): "Service not defined",
    ("edit_dest", errno.ENOENT): "No such destination",
    ("delete_dest", errno.ESRCH): "Service not defined",
    ("delete_dest", errno.ENOENT): "No such destination",
    ("list_dests", errno.ESRCH): "No such service",
    ("get_service", errno.ESRCH): "No such service",
    ("start_daemon", errno.EEXIST): "Daemon has already run",
    ("stop_daemon", errno.ESRCH): "No daemon is running",
    (None, errno.EPERM): "Permission denied (you must be root)",
    (None, errno.EINVAL): "Invalid operation.  Possibly wrong module version, address not unicast, ...",
    (None, errno.ENOPROTOOPT): "Protocol not available",
    (None, errno.ENOMEM): "Memory allocation problem",
    (None, errno.EOPNOTSUPP): "Operation not supported with IPv6",
    (None, errno.EAFNOSUPPORT): "Operation not supported with specified address family",
    (None, errno.EMSGSIZE): "Module is wrong version",
}

#: errnos worth retrying: the request may succeed unchanged a moment later
TRANSIENT_ERRNOS = frozenset({errno.EAGAIN, errno.EINTR, errno.ENOBUFS, errno.EBUSY, errno.ETIMEDOUT})


def ipvs_strerror(op: str, err: int) -> str:
    """ipvsadm's message for ``err`` raised by ``op`` (falls back to strerror like libipvs does)."""
    return _MESSAGES.get((op, err)) or _MESSAGES.get((None, err)) or os.strerror(err)


class IPVSError(OSError):
    """A failed IPVS operation. ``errno`` is the kernel's error, ``op`` the backend method that failed."""

    def __init__(self, err: int, op: str, detail: str = "") -> None:
        super().__init__(err, ipvs_strerror(op, err))
        self.op = op
        self.detail = detail

    @property
    def message(self) -> str:
        return str(self.strerror)

    @property
    def transient(self) -> bool:
        return self.errno in TRANSIENT_ERRNOS

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.op}: {self.strerror}{extra}"
