"""PID files (``-p``/``-r``/``-c``), created the way keepalived does: refuse to start when a live process
already holds the file, replace a stale one, and remove ours at exit.

Why it matters here: in the lab several daemons share one host filesystem, so each run passes its own paths
and a leftover file from a crashed (SIGKILLed) daemon must not stop the next one.
"""

from __future__ import annotations

import contextlib
import os

from pykeepalived.daemon.files import PID_FILE_MODE, read_small, write_atomic


class PidFileError(RuntimeError):
    """The PID file cannot be created; the message names the file and why."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PidFile:
    """A pid file we wrote: ``path`` names ``pid``.  A plain class (no dataclass, no pathlib): the lean watchdog
    writes the children's files with it, and those two modules would be most of what it imports."""

    __slots__ = ("path", "pid")

    def __init__(self, path: str | os.PathLike[str], pid: int) -> None:
        self.path = os.fspath(path)
        self.pid = pid

    def __repr__(self) -> str:
        return f"PidFile({self.path!r}, {self.pid})"

    @staticmethod
    def check(path: str | os.PathLike[str]) -> None:
        """PidFileError when a live process other than us holds ``path`` (nothing is written)."""
        p = os.fspath(path)
        try:
            text = (read_small(p) or "").strip()
        except OSError as exc:
            raise PidFileError(f"pid file {p}: cannot read: {exc.strerror}") from None
        if text.isdigit() and int(text) != os.getpid() and _alive(int(text)):
            raise PidFileError(f"pid file {p}: daemon is already running (pid {text})")

    @classmethod
    def create(cls, path: str | os.PathLike[str], pid: int | None = None) -> PidFile:
        """Write ``pid`` (default: ours) to ``path``; PidFileError when another live process owns it."""
        p = os.fspath(path)
        pid = os.getpid() if pid is None else pid
        cls.check(p)
        try:
            os.makedirs(os.path.dirname(p) or ".", exist_ok=True)
            write_atomic(p, f"{pid}\n", mode=PID_FILE_MODE)
        except OSError as exc:
            raise PidFileError(f"pid file {p}: cannot write: {exc.strerror}") from None
        return cls(p, pid)

    def remove(self) -> None:
        """Remove the file if it still names us (never another daemon's file)."""
        with contextlib.suppress(OSError):
            if (read_small(self.path) or "").strip() == str(self.pid):
                os.unlink(self.path)
