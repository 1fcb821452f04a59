"""The watchdog's own log, without the ``logging`` package: keepalived's parent lines to the console, the log file
and syslog, byte for byte as :func:`.logs.setup_logging` writes them for the other processes.

Why by hand: the watchdog idles for the daemon's whole life in an interpreter of its own, and its size is what
issue 14 measures beside keepalived's parent.  ``logging`` and ``logging.handlers`` bring threading, traceback,
``re``, ``string`` and ``weakref`` (~2 MiB of an interpreter that is ~9 MiB without them), for a handful of lines
(a child started, died, respawned; the stop).  What is kept of ``logging``'s behaviour is what users see: the
console and file stamp, the syslog datagram (``<PRI>ident[pid]: message`` and a NUL, as ``SysLogHandler``), one
reconnect when syslog restarted, the level (``-D``: debug), and the console when nothing else is configured.
``tests/unit/test_daemon_logs.py`` holds the two writers to the same bytes.
"""

from __future__ import annotations

import os
import socket
import sys
import time

TYPE_CHECKING = False  # typing's own flag, without importing typing into the lean watchdog
if TYPE_CHECKING:
    from typing import IO, Protocol

    class LineLog(Protocol):
        """What writes the watchdog's and the notifier's lines: a ParentLog, or a ``logging.Logger``."""

        def debug(self, msg: str, /, *args: object) -> None: ...

        def info(self, msg: str, /, *args: object) -> None: ...

        def warning(self, msg: str, /, *args: object) -> None: ...

        def error(self, msg: str, /, *args: object) -> None: ...

#: the console and log file line: ``Fri Dec 04 19:30:00.123: message`` (keepalived's stamp)
DATE_FORMAT = "%a %b %d %H:%M:%S"
SYSLOG_SOCKET = "/dev/log"
#: syslog(3)'s facility codes for keepalived's ``-S`` choices, and the priorities of the levels we log at
FACILITY_CODES = {"user": 1, "daemon": 3, **{f"local{i}": 16 + i for i in range(8)}}
PRIORITIES = {"debug": 7, "info": 6, "warning": 4, "error": 3}


def stamp(created: float) -> str:
    """``created`` (a time.time()) as the console and the log file show it."""
    return f"{time.strftime(DATE_FORMAT, time.localtime(created))}.{int((created - int(created)) * 1000):03d}"


class ParentLog:
    """Where the watchdog's lines go, chosen by the same options as :func:`.logs.setup_logging`."""

    def __init__(self, *, console: bool, log_file: str | None, syslog: bool, facility: str, detail: bool,
                 ident: str = "Keepalived", syslog_socket: str = SYSLOG_SOCKET) -> None:
        self.max_priority = PRIORITIES["debug" if detail else "info"]  # the least severe line written
        self.ident = ident
        self.facility = FACILITY_CODES[facility]
        self.console = console
        self.file: IO[str] | None = None
        if log_file:
            try:
                self.file = open(log_file, "a")  # noqa: SIM115 - held for the watchdog's life
            except OSError:  # opened a moment ago by setup_logging; gone unwritable since: the lines go elsewhere
                self.file = None
        self.syslog_socket = syslog_socket
        self.sock: socket.socket | None = None
        if syslog and os.path.exists(syslog_socket):
            try:
                self.sock = self._connect()
            except OSError:  # no syslog daemon listening: keepalived's syslog() drops the lines too
                self.sock = None
        if not console and self.file is None and self.sock is None:
            self.console = True  # nowhere else to go: the console rather than silence

    def _connect(self) -> socket.socket:
        last: OSError | None = None
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):  # SysLogHandler's order
            sock = socket.socket(socket.AF_UNIX, kind | socket.SOCK_CLOEXEC)
            try:
                sock.connect(self.syslog_socket)
            except OSError as exc:
                sock.close()
                last = exc
                continue
            return sock
        assert last is not None
        raise last

    def debug(self, msg: str, /, *args: object) -> None:
        self._emit("debug", msg, args)

    def info(self, msg: str, /, *args: object) -> None:
        self._emit("info", msg, args)

    def warning(self, msg: str, /, *args: object) -> None:
        self._emit("warning", msg, args)

    def error(self, msg: str, /, *args: object) -> None:
        self._emit("error", msg, args)

    def _emit(self, level: str, msg: str, args: tuple[object, ...]) -> None:
        if PRIORITIES[level] > self.max_priority:
            return
        message = msg % args if args else msg
        if self.console or self.file is not None:
            line = f"{stamp(time.time())}: {message}\n"
            for stream in (sys.stderr if self.console else None, self.file):
                if stream is not None:
                    try:
                        stream.write(line)
                        stream.flush()
                    except (OSError, ValueError):  # a closed console must not stop the watchdog
                        pass
        if self.sock is not None:
            datagram = f"<{self.facility << 3 | PRIORITIES[level]}>{self.ident}[{os.getpid()}]: {message}\0".encode()
            try:
                self.sock.send(datagram)
            except OSError:  # syslog restarted: reconnect once, as SysLogHandler does, else drop the line
                self.sock.close()
                try:
                    self.sock = self._connect()
                    self.sock.send(datagram)
                except OSError:
                    pass

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
