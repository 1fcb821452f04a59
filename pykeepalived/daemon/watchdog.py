"""keepalived's parent process: starts the VRRP and checker children, respawns a child that dies, forwards
keepalived's signals to them and stops them when it stops.

Why a separate parent: a slow health check must never delay a VRRP advertisement and a crash of one subsystem
must not take the other down, so each runs in its own process (its own event loop), and a watchdog that does
nothing else restarts whichever dies.  The parent runs no event loop: it blocks the signals it cares about and
takes them one at a time with ``sigtimedwait`` (SIGCHLD included), so there is no handler and no race.

Children are new interpreters (``posix_spawn`` of ``python -m pykeepalived.daemon.child``), never ``fork`` copies
of this one, with every signal unblocked and keepalived's dump/reload signals still ignored (ignored dispositions
survive exec) until the child installs its own handlers: a signal in a child's first milliseconds is no kill.

The parent writes every pid file (its own, and each child's as soon as the child exists: keepalived's names
and defaults), so a second daemon on the same files is refused before any child starts.

The watchdog runs in an interpreter of its own: the process that checked the configuration starts the children
and re-executes itself (:func:`become_watchdog`, same pid, signals blocked across the exec so none is lost) as
``python -I -S .../lean_watchdog.py ROOT STATE``: isolated (no ``PYTHON*`` variables, no user site, no ``site``
module: the project's root is the only path added) and importing nothing but ``os``, ``signal``, ``socket`` and
this package's pid-file, systemd and log modules, none of which imports ``logging``, ``dataclasses``, ``json``
or ``typing``.  A parent that idles for months then holds ~9 MiB, a bare interpreter's 7.6 MiB and little more,
instead of the ~40 MiB the configuration parser and pyroute2 cost.  The state crosses the exec as ``marshal``
data (the same interpreter reads it) in hex.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import sys
import time
from collections import deque

from pykeepalived.daemon.parent_log import ParentLog
from pykeepalived.daemon.pidfile import PidFile
from pykeepalived.daemon.sd_notify import SystemdNotifier

TYPE_CHECKING = False  # typing's own flag, without importing typing into the lean interpreter
if TYPE_CHECKING:
    from typing import NoReturn

    from pykeepalived.daemon.options import DaemonOptions
    from pykeepalived.daemon.parent_log import LineLog

KEEPALIVED_VERSION = "Keepalived v2.2.7 (01/16,2022)"

# A child's exit status that says "restarting will not help" (keepalived's KEEPALIVED_EXIT_FATAL / _CONFIG).
EXIT_FATAL = 3
EXIT_CONFIG = 4
_PERMANENT = {EXIT_FATAL: "FATAL", EXIT_CONFIG: "CONFIG"}

#: signals the parent forwards to its children (keepalived's propagate_signal): RELOAD, DATA, STATS, JSON,
#: STATS_CLEAR; STOP (SIGTERM/SIGINT) becomes a SIGTERM to each child.
FORWARDED = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGRTMIN + 2, signal.SIGRTMAX - 1,
             signal.SIGRTMAX)  # the last one: TDUMP of later keepalived versions; the VRRP child ignores it
STOPS = (signal.SIGTERM, signal.SIGINT)
#: how long the parent waits for its children at stop before it SIGKILLs them (keepalived's child_wait_time is
#: 5 s; ours covers the VRRP child's own shutdown watchdog)
CHILD_WAIT_S = 15.0
#: respawn back-off: a child that died more than RESPAWN_BURST times within RESPAWN_WINDOW_S waits 1, 2, 4 ...
#: up to RESPAWN_MAX_DELAY_S seconds before it is started again
RESPAWN_BURST = 3
RESPAWN_WINDOW_S = 30.0
RESPAWN_MAX_DELAY_S = 30.0


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"killed by signal {sig} ({signal.Signals(sig).name})"
        except ValueError:
            return f"killed by signal {sig}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


class Child:
    """One child role: how to start it and what the parent knows of its current process."""

    __slots__ = ("deaths", "pid", "pid_path", "pidfile", "respawn_at", "role", "title")

    def __init__(self, role: str, title: str, pid_path: str, *, pid: int | None = None,
                 pidfile: PidFile | None = None) -> None:
        self.role = role  # "vrrp" | "checker"
        self.title = title  # keepalived's words: "VRRP", "Healthcheck"
        self.pid_path = pid_path
        self.pid = pid
        self.pidfile = pidfile
        self.deaths: deque[float] = deque()
        self.respawn_at: float | None = None


class Watchdog:
    """The parent: :meth:`run` returns the daemon's exit status."""

    def __init__(self, children: list[Child], notifier: SystemdNotifier, log: LineLog, *, child_options: str,
                 dont_respawn: bool) -> None:
        self.children = children
        self.notifier = notifier
        self.log = log
        self.child_options = child_options  # the DaemonOptions as JSON, handed to each child on its command line
        self.dont_respawn = dont_respawn
        self.stopping = False
        self.status = 0
        self._kill_at: float | None = None
        self._mask = {signal.SIGCHLD, *STOPS, *FORWARDED}

    # ------------------------------------------------------------------ children

    def _argv(self, child: Child) -> list[str]:
        return [sys.executable, "-m", "pykeepalived.daemon.child", child.role, str(os.getpid()), child.pid_path,
                self.child_options]

    def spawn(self, child: Child) -> None:
        argv = self._argv(child)
        # every signal unblocked in the child; keepalived's dump/reload signals stay ignored until it handles them
        pid = os.posix_spawn(sys.executable, argv, dict(os.environ), setsigmask=())
        child.pid, child.respawn_at = pid, None
        self.log.info("Starting %s child process, pid=%d", child.title, pid)
        try:
            child.pidfile = PidFile.create(child.pid_path, pid)
        except OSError as exc:  # PidFileError included: the files were checked before any child started
            self.log.error("%s", exc)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = next((c for c in self.children if c.pid == pid), None)
            if child is None:
                continue
            child.pid = None
            if child.pidfile is not None:
                child.pidfile.remove()
                child.pidfile = None
            self._on_exit(child, pid, status)

    def _on_exit(self, child: Child, pid: int, status: int) -> None:
        code = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None
        if self.stopping:
            self.log.info("%s child process, pid %d, %s", child.title, pid, _describe(status))
            return
        if code in _PERMANENT:
            self.log.error("pid %d exited with permanent error %s. Terminating", pid, _PERMANENT[code])
            self.status = 1
            self.stop()
            return
        self.log.warning("%s child process, pid %d, %s", child.title, pid, _describe(status))
        if self.dont_respawn:
            self.log.warning("%s child process not respawned (--dont-respawn); stopping", child.title)
            self.status = 1
            self.stop()
            return
        now = time.monotonic()
        child.deaths.append(now)
        while child.deaths and child.deaths[0] < now - RESPAWN_WINDOW_S:
            child.deaths.popleft()
        extra = len(child.deaths) - RESPAWN_BURST
        if extra <= 0:
            self.spawn(child)
            return
        delay = min(RESPAWN_MAX_DELAY_S, float(2 ** (extra - 1)))
        self.log.warning("Restart of %s child process delayed %u seconds to limit respawn rate", child.title, delay)
        child.respawn_at = now + delay

    def _signal_children(self, sig: int) -> None:
        for child in self.children:
            if child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, sig)

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.notifier.stopping()
        for child in self.children:
            child.respawn_at = None
        self._signal_children(signal.SIGTERM)
        self._kill_at = time.monotonic() + CHILD_WAIT_S

    # ------------------------------------------------------------------ the loop

    def _timeout(self) -> float:
        now = time.monotonic()
        due = [c.respawn_at for c in self.children if c.respawn_at is not None]
        if self._kill_at is not None:
            due.append(self._kill_at)
        return max(0.0, min(due) - now) if due else 60.0

    def run(self) -> int:
        signal.pthread_sigmask(signal.SIG_BLOCK, self._mask)
        try:
            for child in self.children:
                if child.pid is None:  # not already started before the re-exec (become_watchdog)
                    self.spawn(child)
            self.notifier.ready(f"{len(self.children)} child process(es) started")
            while any(c.pid is not None or c.respawn_at is not None for c in self.children):
                info = signal.sigtimedwait(self._mask, self._timeout())
                now = time.monotonic()
                if info is None:
                    for child in self.children:
                        if child.respawn_at is not None and child.respawn_at <= now and not self.stopping:
                            self.spawn(child)
                    if self._kill_at is not None and now >= self._kill_at:
                        self.log.error("children did not stop within %.0f s; killing them", CHILD_WAIT_S)
                        self._signal_children(signal.SIGKILL)
                        self._kill_at = None
                    continue
                sig = info.si_signo
                if sig == signal.SIGCHLD:
                    self._reap()
                elif sig in STOPS:
                    self.stop()
                elif sig == signal.SIGHUP:  # systemctl reload: RELOADING, the children re-read, READY again
                    self.notifier.reloading()
                    self._signal_children(sig)
                    self.notifier.ready("reload requested from the children")
                else:
                    self._signal_children(sig)
        finally:
            self._signal_children(signal.SIGTERM)  # an exception here must not leave children behind
        return self.status


# ---------------------------------------------------------------------- the watchdog's own interpreter


def become_watchdog(options: DaemonOptions, children: list[Child], pid_files: list[str]) -> NoReturn:
    """Start the children, then replace this process (same pid, same descriptors 0-2, same children) with the
    lean watchdog interpreter; never returns. The children start first so the re-exec adds nothing to the
    daemon's start-up. The signals the watchdog takes are blocked before the first child starts: blocked and
    pending signals survive the exec, so a SIGCHLD or SIGTERM meanwhile waits for the new interpreter's
    ``sigtimedwait`` instead of being lost."""
    import dataclasses
    import json
    import logging

    # NOTIFY_SOCKET leaves the environment before any child starts (children never notify); the watchdog has it
    notify_socket = os.environ.pop("NOTIFY_SOCKET", None)
    child_options = json.dumps(dataclasses.asdict(options))
    starter = Watchdog(children, SystemdNotifier(None), logging.getLogger("pykeepalived.parent"),
                       child_options=child_options, dont_respawn=options.dont_respawn)
    signal.pthread_sigmask(signal.SIG_BLOCK, starter._mask)
    try:
        for child in children:
            starter.spawn(child)
    except BaseException:
        starter._signal_children(signal.SIGTERM)
        raise
    state = {"log": {"console": options.log_console, "log_file": options.log_file, "syslog": not options.no_syslog,
                     "facility": options.log_facility, "detail": options.log_detail},
             "child_options": child_options, "dont_respawn": options.dont_respawn, "pid_files": pid_files,
             "notify_socket": notify_socket, "children": [[c.role, c.title, c.pid_path, c.pid] for c in children]}
    logging.shutdown()  # flush the log handlers; the new interpreter opens its own
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))  # the directory that holds the pykeepalived package
    os.execv(sys.executable, [sys.executable, "-I", "-S", os.path.join(here, "lean_watchdog.py"), root,
                              marshal.dumps(state).hex()])


def main(argv: list[str]) -> int:
    """The lean watchdog (``lean_watchdog.py ROOT STATE``, started only by :func:`become_watchdog`): ``argv`` is
    ``[STATE]``; returns the daemon's exit status."""
    state = marshal.loads(bytes.fromhex(argv[0]))
    log = ParentLog(**state["log"])
    children = [Child(role, title, pid_path, pid=pid, pidfile=None if pid is None else PidFile(pid_path, pid))
                for role, title, pid_path, pid in state["children"]]
    try:
        status = Watchdog(children, SystemdNotifier(state["notify_socket"], log), log,
                          child_options=state["child_options"], dont_respawn=state["dont_respawn"]).run()
    finally:
        for path in state["pid_files"]:
            PidFile(path, os.getpid()).remove()
    log.info("Stopped %s", KEEPALIVED_VERSION)
    log.close()
    return status
