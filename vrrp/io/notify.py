"""State-change notifications: ``notify_master/backup/fault/stop``, the generic ``notify`` and notify FIFOs.

keepalived's contract, reproduced (keepalived.conf(5) "notify", keepalived's ``vrrp_notify.c``):

* On a transition the state's own script runs first (``notify_master`` ...), then the generic ``notify``
  script with four arguments appended: ``INSTANCE``/``GROUP``, the name, ``MASTER``/``BACKUP``/``FAULT``/
  ``STOP``/``DELETED`` and the priority (always 0 for a group), then a line goes to each notify FIFO:
  ``INSTANCE "VI_1" MASTER 100``.  FIFOs also carry ``MASTER_RX_LOWER_PRI`` and, with
  ``notify_priority_changes``, ``MASTER_PRIORITY``/``BACKUP_PRIORITY`` lines.
* Scripts are fire-and-forget (keepalived forks and does not wait), so their order is not guaranteed; the
  FIFO is the ordered channel.  Here :class:`Notifier` starts each script as an asyncio task and returns at
  once: the VRRP loop never waits for a notification.  Tasks are bounded (``max_pending``; more are dropped
  and logged) and their failures are logged, never raised.
* A FIFO is created (mode 0600, owned by the configured user) when missing, opened read-write and
  non-blocking (as keepalived does), so a writer never blocks even with no reader; a full pipe drops the line
  and counts it.  ``notify_fifo_script`` is started with the FIFO's path appended before the FIFO is opened,
  and runs for the daemon's lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vrrp.io.scripts import Script, ScriptResult, ScriptUser, run_script
from vrrp.io.trackers import ScriptRunner

log = logging.getLogger(__name__)


class NotifyConfigError(ValueError):
    """A notify FIFO that cannot be used; the message names the path."""


class NotifyState(enum.Enum):
    """The states a notification reports (keepalived's spelling, always upper case)."""

    MASTER = "MASTER"
    BACKUP = "BACKUP"
    FAULT = "FAULT"
    STOP = "STOP"
    DELETED = "DELETED"


class Subject(enum.Enum):
    """Whether a notification is about a ``vrrp_instance`` or a ``vrrp_sync_group``."""

    INSTANCE = "INSTANCE"
    GROUP = "GROUP"


#: FIFO-only events (no script argument form): ``notify_master_rx_lower_pri`` and ``notify_priority_changes``.
MASTER_RX_LOWER_PRI = "MASTER_RX_LOWER_PRI"
MASTER_PRIORITY = "MASTER_PRIORITY"
BACKUP_PRIORITY = "BACKUP_PRIORITY"


@dataclass(frozen=True)
class NotifyScripts:
    """The notify scripts of one instance or sync group (``generic`` is the ``notify`` keyword)."""

    master: Script | None = None
    backup: Script | None = None
    fault: Script | None = None
    stop: Script | None = None
    deleted: Script | None = None
    generic: Script | None = None
    master_rx_lower_pri: Script | None = None

    def for_state(self, state: NotifyState) -> Script | None:
        """The state's own script (``notify_master`` for MASTER, ...)."""
        return {
            NotifyState.MASTER: self.master,
            NotifyState.BACKUP: self.backup,
            NotifyState.FAULT: self.fault,
            NotifyState.STOP: self.stop,
            NotifyState.DELETED: self.deleted,
        }[state]


def generic_notify_script(script: Script, subject: Subject, name: str, state: NotifyState, priority: int) -> Script:
    """The generic ``notify`` script with keepalived's four arguments appended (a group's priority is 0)."""
    return script.with_args(subject.value, name, state.value, str(0 if subject is Subject.GROUP else priority))


def fifo_line(subject: Subject, name: str, event: NotifyState | str, priority: int) -> str:
    """One FIFO line, newline-terminated: ``INSTANCE "VI_1" MASTER 100`` (``GROUP "G1" BACKUP 0``)."""
    word = event.value if isinstance(event, NotifyState) else event
    return f'{subject.value} "{name}" {word} {priority}\n'


class NotifyFifo:
    """The writer end of a ``notify_fifo`` / ``vrrp_notify_fifo``.

    :meth:`open` creates the FIFO when it does not exist (and then :meth:`close` removes it), and opens it
    ``O_RDWR | O_NONBLOCK`` so that writing never blocks; ``script`` is the ``notify_fifo_script``, started by
    :class:`Notifier` with the path appended.
    """

    def __init__(self, path: str | os.PathLike[str], *, user: ScriptUser | None = None, script: Script | None = None):
        self.path = Path(path)
        self.user = user
        self.script = script
        self.written = 0
        self.dropped = 0
        self._fd: int | None = None
        self._created = False

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def create(self) -> None:
        """Make sure the FIFO exists (keepalived: ``mkfifo`` 0600, chowned to the configured user)."""
        try:
            os.mkfifo(self.path, 0o600)
        except FileExistsError:
            if not stat.S_ISFIFO(os.stat(self.path).st_mode):
                raise NotifyConfigError(f"notify fifo {self.path}: exists and is not a FIFO") from None
        except OSError as exc:
            raise NotifyConfigError(f"notify fifo {self.path}: cannot create it: {exc.strerror}") from None
        else:
            self._created = True
            if self.user is not None:
                os.chown(self.path, self.user.uid, self.user.gid)

    def open(self) -> None:
        """Create if needed and open for writing (never blocks: we hold a read end ourselves)."""
        if self._fd is not None:
            return
        if not self.path.exists():
            self.create()
        elif not stat.S_ISFIFO(os.stat(self.path).st_mode):
            raise NotifyConfigError(f"notify fifo {self.path}: exists and is not a FIFO")
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise NotifyConfigError(f"notify fifo {self.path}: cannot open it: {exc.strerror}") from None

    def write(self, line: str) -> bool:
        """Write one line without blocking; a full pipe (or a closed FIFO) drops it and counts it."""
        if self._fd is None:
            self.dropped += 1
            return False
        data = line.encode()
        try:
            n = os.write(self._fd, data)
        except BlockingIOError:
            n = 0
        except OSError as exc:
            log.warning("notify fifo %s: write failed: %s", self.path, exc.strerror)
            n = 0
        if n != len(data):
            # A pipe write of at most PIPE_BUF bytes is atomic: it is all or nothing.
            self.dropped += 1
            log.warning("notify fifo %s is full: dropped %r", self.path, line.rstrip("\n"))
            return False
        self.written += 1
        return True

    def close(self) -> None:
        """Close, and remove the FIFO if we created it."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._created:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._created = False


class Notifier:
    """Runs notify scripts and writes notify FIFOs without ever blocking its caller.

    Call the notification methods from the event loop's thread; each returns at once.  ``await start()`` opens
    the FIFOs (starting their scripts); ``await aclose()`` waits a little for running scripts (STOP
    notifications at shutdown), kills what is left and closes the FIFOs.
    """

    def __init__(
        self,
        fifos: Sequence[NotifyFifo] = (),
        *,
        runner: ScriptRunner = run_script,
        max_pending: int = 64,
        script_timeout: float | None = None,
    ) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1 (got {max_pending})")
        self.fifos = list(fifos)
        self.started = 0
        self.failed = 0
        self.dropped = 0
        self._runner = runner
        self._max_pending = max_pending
        self._timeout = script_timeout
        self._pending: set[asyncio.Task[None]] = set()
        self._fifo_scripts: dict[NotifyFifo, asyncio.Task[None]] = {}

    @property
    def pending(self) -> int:
        """Notify scripts started and not finished yet."""
        return len(self._pending)

    # ------------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Create each FIFO, start its ``notify_fifo_script`` (path appended), then open it for writing."""
        for fifo in self.fifos:
            self._open(fifo)

    def _open(self, fifo: NotifyFifo) -> None:
        """Open ``fifo`` for writing, then start its script: a FIFO that cannot be opened starts nothing.  (Our
        end never blocks, so the reader may come after it; keepalived starts the script first.)"""
        fifo.open()
        if fifo.script is not None:
            script = fifo.script.with_args(str(fifo.path))
            task = asyncio.create_task(self._run_fifo_script(script), name=f"notify-fifo-script {fifo.path}")
            self._fifo_scripts[fifo] = task

    async def _close(self, fifos: Sequence[NotifyFifo], grace: float) -> None:
        """Close ``fifos`` (their scripts then read end-of-file) and stop what is left of their scripts after
        ``grace`` s."""
        for fifo in fifos:
            fifo.close()
        tasks = [task for fifo in fifos if (task := self._fifo_scripts.pop(fifo, None)) is not None]
        if tasks:
            _done, running = await asyncio.wait(tasks, timeout=grace)
            for task in running:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def replace_fifos(self, fifos: Sequence[NotifyFifo], fifo_script_grace: float = 1.0,
                            ) -> tuple[list[NotifyFifo], list[NotifyFifo]]:
        """Reload: the FIFOs become ``fifos``.  One whose path and script are unchanged stays as it is (open, its
        script running, nothing lost); one no longer configured is closed as at shutdown (removed if we created
        it; its script reads end-of-file and is stopped after ``fifo_script_grace`` s); a new one is opened and
        its script started.  A new FIFO that cannot be made is logged and left out, as keepalived leaves it.
        Returns (closed, opened)."""
        current = {(f.path, f.script): f for f in self.fifos}
        wanted = {(f.path, f.script) for f in fifos}
        closed = [f for key, f in current.items() if key not in wanted]
        await self._close(closed, fifo_script_grace)
        kept: list[NotifyFifo] = []
        opened: list[NotifyFifo] = []
        for fifo in fifos:
            old = current.get((fifo.path, fifo.script))
            if old is not None:
                kept.append(old)
                continue
            try:
                self._open(fifo)
            except NotifyConfigError as exc:
                log.error("%s", exc)
                continue
            kept.append(fifo)
            opened.append(fifo)
        self.fifos = kept
        return closed, opened

    async def _run_fifo_script(self, script: Script) -> None:
        result = await self._runner(script, timeout=None)
        log.warning("notify fifo script %s exited: %s", script.argv[0], _outcome(result))

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every notify script has finished (or ``timeout``); True when none is left."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)
        return not self._pending

    async def aclose(self, timeout: float = 5.0, fifo_script_grace: float = 1.0) -> None:
        """Shutdown: let scripts finish for up to ``timeout`` s, kill the rest, close the FIFOs (whose
        scripts then read end-of-file) and stop the FIFO scripts after ``fifo_script_grace`` s."""
        await self.drain(timeout)
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.wait(set(self._pending))
        await self._close(self.fifos, fifo_script_grace)

    # ------------------------------------------------------------------------------------------- events

    def instance(self, name: str, state: NotifyState, priority: int, scripts: NotifyScripts) -> None:
        """A ``vrrp_instance`` entered ``state`` with effective ``priority``."""
        self._notify(Subject.INSTANCE, name, state, priority, scripts)

    def group(self, name: str, state: NotifyState, scripts: NotifyScripts) -> None:
        """A ``vrrp_sync_group`` entered ``state`` (keepalived reports priority 0 for groups)."""
        self._notify(Subject.GROUP, name, state, 0, scripts)

    def priority_change(self, name: str, state: NotifyState, priority: int) -> None:
        """``notify_priority_changes``: a FIFO-only ``MASTER_PRIORITY``/``BACKUP_PRIORITY`` line."""
        event = MASTER_PRIORITY if state is NotifyState.MASTER else BACKUP_PRIORITY
        self._fifo(fifo_line(Subject.INSTANCE, name, event, priority))

    def master_rx_lower_pri(self, name: str, priority: int, scripts: NotifyScripts) -> None:
        """A Master received a lower-priority advert: ``notify_master_rx_lower_pri`` and a FIFO line."""
        if scripts.master_rx_lower_pri is not None:
            self._spawn(scripts.master_rx_lower_pri)
        self._fifo(fifo_line(Subject.INSTANCE, name, MASTER_RX_LOWER_PRI, priority))

    def _notify(self, subject: Subject, name: str, state: NotifyState, priority: int, scripts: NotifyScripts) -> None:
        log.info("(%s) notifying %s %s %s %d", name, subject.value, name, state.value, priority)
        own = scripts.for_state(state)
        if own is not None:
            self._spawn(own)
        if scripts.generic is not None:
            self._spawn(generic_notify_script(scripts.generic, subject, name, state, priority))
        self._fifo(fifo_line(subject, name, state, priority))

    def _fifo(self, line: str) -> None:
        for fifo in self.fifos:
            fifo.write(line)

    def _spawn(self, script: Script) -> None:
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            log.error(
                "notify script %s not run: %d notify scripts are still running (max_pending)",
                " ".join(script.argv),
                len(self._pending),
            )
            return
        self.started += 1
        task = asyncio.get_running_loop().create_task(self._run(script), name=f"notify {script.argv[0]}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _run(self, script: Script) -> None:
        try:
            result = await self._runner(script, timeout=self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception:  # a notification must never take the daemon down
            self.failed += 1
            log.exception("notify script %s could not be run", " ".join(script.argv))
            return
        if not result.ok:
            self.failed += 1
            log.warning("notify script %s %s", " ".join(script.argv), _outcome(result))


def _outcome(result: ScriptResult) -> str:
    if result.error:
        return f"could not start: {result.error}"
    if result.timed_out:
        return "timed out"
    if result.signal is not None:
        return f"killed by signal {result.signal}"
    return f"exited with status {result.returncode}"
