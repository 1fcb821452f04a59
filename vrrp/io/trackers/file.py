"""The ``track_file`` tracker.

``track_file`` -- the file holds an integer (``strtol`` base 0: ``12``, ``-3``, ``0x1f``, ``017``; leading
white space allowed, trailing text ignored).  A missing or empty file, or text without a number, reads as
0; a number outside the C ``int`` range is logged and ignored.  keepalived watches the directory with
inotify (close-after-write, delete, move); so do we, and a deletion reads as 0.  ``init_file`` creates the
file (or overwrites it) at start.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from vrrp.io.trackers.base import (
    INT_MAX,
    INT_MIN,
    Clock,
    Emit,
    Sleep,
    TrackerConfigError,
    TrackerKind,
    TrackerUpdate,
    require,
    require_weight,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileTrackerSettings:
    """A ``track_file`` block.  ``init_value`` None means no ``init_file``; ``init_overwrite`` is its
    ``overwrite`` flag.  ``weight`` (default 1) and ``weight_reverse`` are carried for the router."""

    name: str
    path: Path
    weight: int = 1
    weight_reverse: bool = False
    init_value: int | None = None
    init_overwrite: bool = False

    def __post_init__(self) -> None:
        require(str(self.path) != "", "track_file", self.name, "file must be set")
        require_weight("track_file", self.name, self.weight, 2**31 - 1)
        if self.init_value is not None:
            require(
                INT_MIN <= self.init_value <= INT_MAX,
                "track_file",
                self.name,
                f"init_file value {self.init_value} is not a C int",
            )


def parse_track_file_value(data: bytes) -> int | None:
    """The value keepalived reads from ``data``: C ``strtol(data, NULL, 0)``, 0 when there is no number, None
    (ignore the read) when the number does not fit a C int."""
    text = data.decode("ascii", "replace")
    i = 0
    n = len(text)
    while i < n and text[i] in " \t\n\r\f\v":
        i += 1
    sign = 1
    if i < n and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    base = 10
    if text[i : i + 2].lower() == "0x" and i + 2 < n and text[i + 2] in "0123456789abcdefABCDEF":
        base = 16
        i += 2
    elif text[i : i + 1] == "0":
        base = 8
    digits = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}[base]
    start = i
    while i < n and text[i] in digits:
        i += 1
    if i == start:
        return 0
    value = sign * int(text[start:i], base)
    if not INT_MIN <= value <= INT_MAX:
        return None
    return value


def read_track_file(path: Path) -> int | None:
    """Read a track file as keepalived does (127 bytes): missing/unreadable/empty is 0; None: ignore."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        data = os.read(fd, 127)
    except OSError:
        return 0
    finally:
        os.close(fd)
    if not data:
        return 0
    value = parse_track_file_value(data)
    if value is None:
        log.info("Invalid number read from %s - ignoring", path)
    return value


def init_track_file(settings: FileTrackerSettings, *, reload: bool = False) -> None:
    """Apply ``init_file`` (keepalived's ``track_file_end_handler``): create the file holding the value when
    it does not exist; with ``overwrite`` also replace an existing regular file (but not on a reload)."""
    if settings.init_value is None:
        return
    path = settings.path
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    if st is not None:
        if not settings.init_overwrite:
            return
        if not path.is_file():
            raise TrackerConfigError(f"track_file {settings.name}: cannot initialise {path}: not a regular file")
        if reload:
            return
    try:
        path.write_text(f"{settings.init_value}\n")
    except OSError as exc:
        raise TrackerConfigError(f"track_file {settings.name}: unable to initialise {path}: {exc.strerror}") from None


def resolve_track_file(settings: FileTrackerSettings) -> Path:
    """The absolute path to watch; its directory must exist (keepalived drops the tracker otherwise)."""
    path = Path(os.path.abspath(settings.path))
    if path.exists():
        return Path(os.path.realpath(path))
    directory = Path(os.path.realpath(path.parent))
    if not directory.is_dir():
        raise TrackerConfigError(f"track_file {settings.name}: directory {path.parent} does not exist")
    return directory / path.name


# inotify through libc: the events keepalived watches on the file's directory.
_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_FROM = 0x00000040
_IN_MOVED_TO = 0x00000080
_IN_DELETE = 0x00000200
_IN_ISDIR = 0x40000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")


class _Inotify:
    """A minimal inotify watch on a directory (the file may not exist yet, or may be replaced by rename)."""

    def __init__(self, directory: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        mask = _IN_CLOSE_WRITE | _IN_DELETE | _IN_MOVED_FROM | _IN_MOVED_TO
        wd = libc.inotify_add_watch(fd, os.fsencode(directory), mask)
        if wd < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, f"inotify_add_watch({directory}) failed")
        self.fd: int = fd

    def read(self) -> list[tuple[int, str]]:
        """Drain pending events as (mask, name)."""
        events: list[tuple[int, str]] = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return events
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            offset = 0
            while offset + _EVENT.size <= len(data):
                _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
                events.append((mask, os.fsdecode(raw.rstrip(b"\0"))))
                offset += _EVENT.size + length

    def close(self) -> None:
        os.close(self.fd)


class FileTracker:
    """Watches one ``track_file`` and emits its value at start and whenever it changes.

    ``watch="inotify"`` (default) reacts to writes at once; ``watch="poll"`` re-reads every ``poll_interval``
    using the injected ``sleep`` (what the unit tests use, and the fallback where inotify is unavailable).
    The constructor applies ``init_file`` (``reload=True``: as on a SIGHUP, never overwriting) and raises
    :class:`TrackerConfigError` when the file's directory does not exist.
    """

    def __init__(
        self,
        settings: FileTrackerSettings,
        emit: Emit,
        *,
        watch: str = "inotify",
        poll_interval: float = 0.5,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        reload: bool = False,
    ) -> None:
        if watch not in ("inotify", "poll"):
            raise TrackerConfigError(f"track_file {settings.name}: watch must be 'inotify' or 'poll' (got {watch!r})")
        self.settings = settings
        self.path = resolve_track_file(settings)
        init_track_file(settings, reload=reload)
        self.value = 0
        self._emit = emit
        self._watch = watch
        self._poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep

    def _report(self, value: int) -> None:
        self.value = value
        self._emit(TrackerUpdate(TrackerKind.FILE, self.settings.name, value=value, now=self._clock()))

    async def _poll(self) -> NoReturn:
        while True:
            await self._sleep(self._poll_interval)
            self._reread()

    def _reread(self) -> None:
        value = read_track_file(self.path)
        if value is not None and value != self.value:
            self._report(value)

    async def run(self) -> None:
        initial = read_track_file(self.path)
        self._report(initial if initial is not None else 0)
        if self._watch == "poll":
            await self._poll()
        try:
            inotify = _Inotify(self.path.parent)
        except OSError as exc:
            log.warning("track_file %s: inotify unavailable (%s); polling instead", self.settings.name, exc)
            await self._poll()
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        loop.add_reader(inotify.fd, wake.set)
        try:
            self._reread()  # anything written between the first read and the watch
            while True:
                await wake.wait()
                wake.clear()
                for mask, name in inotify.read():
                    if mask & _IN_ISDIR or name != self.path.name:
                        continue
                    if mask & (_IN_DELETE | _IN_MOVED_FROM):
                        if self.value != 0:
                            self._report(0)  # keepalived: a vanished file counts as 0
                    else:
                        self._reread()
        finally:
            loop.remove_reader(inotify.fd)
            inotify.close()
