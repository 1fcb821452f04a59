"""systemd readiness notification (``Type=notify``): READY=1, RELOADING=1, STOPPING=1, STATUS=, ERRNO=.

Why: Debian's keepalived unit is ``Type=notify``; systemd waits for READY=1 before it considers the service started
and orders dependants after it, and ``systemctl reload`` waits for READY=1 after RELOADING=1.  keepalived sends
``READY=1\\nMAINPID=<pid>`` when every child has loaded its configuration ("Startup complete" / "Reload
complete"), ``RELOADING=1`` when a reload starts, ``STOPPING=1`` when it stops, ``ERRNO=<n>`` on a fatal
configuration error, and then removes NOTIFY_SOCKET from its environment so children and scripts never notify.

Why by hand and not the ``sdnotify`` package: that package's last release is from 2017 (Python 2 shims, bare
``except:``, latin-1 only, no ``MONOTONIC_USEC``).  The protocol is one datagram of ``KEY=VALUE`` lines to the
AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace), documented as stable
in sd_notify(3); this module is that and nothing more.  Sending never raises: a daemon must run the same with
or without systemd.
"""

from __future__ import annotations

import os
import socket
import time

TYPE_CHECKING = False  # typing's own flag, without importing typing into the lean watchdog
if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from pykeepalived.daemon.parent_log import LineLog

class SystemdNotifier:
    """Sends notifications to one socket; with no socket (not started by systemd) every call is a no-op.

    ``log`` takes the two lines this writes (a refused address, a datagram not sent): the lean watchdog passes
    its own log, everyone else gets ``logging``'s "pykeepalived.systemd" logger (imported only then)."""

    def __init__(self, address: str | None, log: LineLog | None = None) -> None:
        if log is None:
            import logging

            log = logging.getLogger("pykeepalived.systemd")
        self._log: LineLog = log
        self._address: str | None = None
        if address and (address.startswith("/") or address.startswith("@")):
            self._address = "\0" + address[1:] if address.startswith("@") else address
        elif address:
            # e.g. systemd's vsock: addresses (VMs); refused loudly rather than silently ignored.
            log.warning("NOTIFY_SOCKET=%s is not a unix socket address: systemd notifications disabled", address)
        self.sent: list[str] = []  # what went out (for the daemon's debug dump and tests)

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = True) -> SystemdNotifier:
        """The notifier for ``$NOTIFY_SOCKET``; with ``unset`` the variable is removed from ``environ`` (as
        keepalived's sd_notify(1, ...)) so the processes and scripts we start never inherit it."""
        env = os.environ if environ is None else environ
        address = env.pop("NOTIFY_SOCKET", None) if unset else env.get("NOTIFY_SOCKET")
        return cls(address)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=VALUE`` lines (keys as given, e.g. ``notify(READY=1, STATUS="...")``); True when sent."""
        if self._address is None:
            return False
        message = "\n".join(f"{key}={_one_line(str(value))}" for key, value in fields.items())
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message.encode(), self._address)
        except OSError as exc:
            self._log.debug("systemd notification %r not sent: %s", message, exc)
            return False
        self.sent.append(message)
        return True

    def ready(self, status: str | None = None) -> bool:
        """Startup or reload complete: READY=1 with our pid as MAINPID (keepalived's systemd_notify_running)."""
        return self.notify(READY=1, MAINPID=os.getpid(), **_status(status))

    def reloading(self, status: str | None = None) -> bool:
        """A reload starts (SIGHUP).  MONOTONIC_USEC lets systemd >= 253 match it with ``systemctl reload``."""
        return self.notify(RELOADING=1, MONOTONIC_USEC=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000,
                           **_status(status))

    def stopping(self, status: str | None = None) -> bool:
        """A stop starts (SIGTERM/SIGINT)."""
        return self.notify(STOPPING=1, **_status(status))

    def status(self, text: str) -> bool:
        """A free-form status line ``systemctl status`` shows."""
        return self.notify(STATUS=text)

    def error(self, errno_code: int, status: str | None = None) -> bool:
        """A fatal error before exit (keepalived's systemd_notify_error: EINVAL for a bad config, EPERM ...)."""
        return self.notify(ERRNO=errno_code, **_status(status))


def _status(text: str | None) -> dict[str, str]:
    return {} if text is None else {"STATUS": text}


def _one_line(value: str) -> str:
    """A value cannot span lines: a newline would start another field of the datagram."""
    return " ".join(value.splitlines())
