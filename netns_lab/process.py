"""Real processes inside a lab host: start, signal (stop/kill/pause/resume), wait, with a log file each.

Processes are started through ``ip netns exec`` rather than a setns() in a preexec hook: it also remounts
/sys for the namespace (tools such as keepalived read interface data there) and it execs the command, so the
pid we hold is the command's own. Each process leads its own session, so a signal reaches the children a
daemon forks as well (keepalived's VRRP/checker children), which is what "kill the master" means in a lab.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["LabProcess", "netns_argv"]


def netns_argv(netns: str | None, argv: Sequence[str]) -> list[str]:
    """The argv that runs ``argv`` inside network namespace ``netns`` (None: this process's own)."""
    return ["ip", "netns", "exec", netns, *argv] if netns is not None else list(argv)


class LabProcess:
    """A real process inside a host's namespace; its stdout and stderr go to ``log_path``."""

    def __init__(
        self,
        *,
        name: str,
        host: str,
        netns: str | None,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.netns = netns
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with open(log_path, "ab", buffering=0) as log:
            log.write(f"# {time.strftime('%H:%M:%S')} start in {host} ({netns}): {self.argv}\n".encode())
            try:
                self._popen = subprocess.Popen(
                    netns_argv(netns, self.argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=full_env,
                    start_new_session=True,
                )
            except FileNotFoundError as exc:
                raise RuntimeError(f"cannot start {self.argv!r} in host {host!r}: {exc}") from None
        self.pid: int = self._popen.pid
        self._wait_entered()

    def _wait_entered(self, timeout: float = 5.0) -> None:
        """Return once ``ip netns exec`` has entered the namespace and exec'd the command.

        Then a pause()/kill() right after start() acts on the real command inside the host, and
        /proc/<pid>/cmdline is the command's own (``ip`` enters the namespace a moment after fork).
        """
        if self.netns is None:  # started in this namespace: the pid is the command's from the start
            return
        wrapper = "\0".join(netns_argv(self.netns, self.argv)).encode()
        deadline = time.monotonic() + timeout
        while self._popen.poll() is None and time.monotonic() < deadline:
            try:
                with open(f"/proc/{self.pid}/cmdline", "rb") as f:
                    cmdline = f.read().rstrip(b"\0")
            except OSError:
                return
            if cmdline and cmdline != wrapper:
                return
            time.sleep(0.001)

    def __repr__(self) -> str:
        state = "running" if self.running() else f"exited {self.returncode}"
        return f"<LabProcess {self.name} host={self.host} pid={self.pid} {state}>"

    # ------------------------------------------------------------------ state
    @property
    def returncode(self) -> int | None:
        """Exit status once the process ended (negative: killed by that signal), else None."""
        return self._popen.poll()

    def running(self) -> bool:
        """True while the process has not exited (a paused process is still running)."""
        return self._popen.poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to ``timeout`` seconds (forever if None); the exit status, or None if still running."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    # ------------------------------------------------------------------ signals
    def signal(self, sig: int) -> None:
        """Send ``sig`` to the process's whole group (it leads its own session); no-op once it has exited."""
        if self._popen.poll() is not None:
            return
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            # The group may have been re-used by another session leader after a setsid() in the child.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def stop(self, timeout: float = 5) -> int | None:
        """SIGTERM (after SIGCONT, so a paused process can act on it), then SIGKILL after ``timeout`` s."""
        if self._popen.poll() is not None:
            return self._popen.returncode
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
            rc = self.wait(5)
        return rc

    def kill(self) -> None:
        """SIGKILL, like a crash: no cleanup runs in the process."""
        self.signal(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP: the process freezes (timers stop, sockets keep queueing) until resume()."""
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after pause()."""
        self.signal(signal.SIGCONT)

    def log_text(self) -> str:
        """The log so far (stdout and stderr interleaved)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
