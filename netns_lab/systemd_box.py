"""A real systemd as PID 1 in throwaway namespaces, so a unit is started, reloaded and stopped by ``systemctl``.

"Debian's keepalived.service with ExecStart pointed at pykeepalived starts, reloads and stops cleanly" is a claim
about systemd's own behaviour: Type=notify readiness, ``$MAINPID`` in ExecReload, the stop's SIGTERM and its wait,
the unit's result. A NOTIFY_SOCKET listener can only imitate that, and a CI machine rarely boots systemd, so the box
boots Debian's ``/lib/systemd/systemd`` itself, isolated from the machine:

- new PID, mount, network, UTS and IPC namespaces (``unshare``); the box's systemd is PID 1 there, knows only the
  box's units (``SYSTEMD_UNIT_PATH``: empty stand-ins for the targets a service depends on, plus the test's) and
  starts ``lab.target``, so nothing of the machine's own unit set (sysinit's tmpfiles, udev, journald) ever runs;
- cgroups: a sub-cgroup ``netns_lab-<prefix>`` in each hierarchy systemd uses, which the box's systemd takes as its
  root (as in any container), so its scopes and slices never land beside the machine's;
- mounts: ``/run`` is a fresh tmpfs whose ``systemd/system`` is the box's unit directory (a host directory bound
  there, so a test edits units and runs ``daemon-reload``); other host directories or files are bound over paths of
  the box (``/etc/keepalived`` with the test's config); /tmp and /var/tmp are the box's own tmpfs and the rest of
  the root is read-only in the box, so the machine's files stay untouched;
- lifetime: the box dies with the process that made it (``PR_SET_PDEATHSIG`` kept across the exec of ``unshare``,
  whose ``--kill-child`` passes it on to the box's PID 1); :meth:`SystemdBox.close` kills PID 1 (the kernel then ends
  every process of the PID namespace) and removes the cgroups and the work directory.

The module is also the two small programs that build the box (``python -m netns_lab.systemd_box enter|boot DIR``):
``enter`` joins the cgroups and execs ``unshare``; ``boot`` makes the mounts, runs the set-up commands in the new
network namespace and execs systemd.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SYSTEMD", "SystemdBox", "SystemdBoxError", "cgroup_hierarchies", "missing", "own_cgroup",
           "remove_dead_boxes"]  # fmt: skip

SYSTEMD = Path("/lib/systemd/systemd")
CGROUP_ROOT = Path("/sys/fs/cgroup")
BOOT_TARGET = "lab.target"
UNIT_DIR = "/run/systemd/system"
#: the only units the box's systemd knows besides the test's: empty stand-ins for the targets and the slice a
#: service's default dependencies name (Requires=sysinit.target, After=basic.target, Slice=system.slice, ...)
BASE_UNITS = {
    name: f"[Unit]\nDescription=netns_lab box: {name}\nDefaultDependencies=no\n"
    for name in (BOOT_TARGET, "sysinit.target", "basic.target", "shutdown.target", "network.target",
                 "network-online.target", "network-pre.target", "system.slice")
}
_PR_SET_PDEATHSIG = 1
_BOOT_TIMEOUT_S = 30.0
_YOUNG_S = 60.0  # a box's cgroup younger than this is never taken for dead


class SystemdBoxError(RuntimeError):
    """The box could not be built or systemd did not come up; the message says which step and why."""


def missing() -> str | None:
    """Why a box cannot be built here (None when it can): what to install or which right is lacking."""
    if os.geteuid() != 0:
        return "a systemd box needs root"
    if not SYSTEMD.exists():
        return f"{SYSTEMD} is missing (apt-get install systemd; bash bootstrap.sh does it)"
    for tool in ("unshare", "nsenter", "systemctl"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install util-linux systemd)"
    if not cgroup_hierarchies():
        return f"no writable cgroup hierarchy for systemd under {CGROUP_ROOT}"
    return None


def cgroup_hierarchies() -> list[Path]:
    """The cgroup hierarchies systemd manages: the unified one alone (cgroup v2), or ``name=systemd`` and, when
    mounted, ``unified`` (the hybrid layout)."""
    if (CGROUP_ROOT / "cgroup.procs").exists() and not (CGROUP_ROOT / "systemd").is_dir():
        return [CGROUP_ROOT]
    return [CGROUP_ROOT / name for name in ("systemd", "unified") if (CGROUP_ROOT / name / "cgroup.procs").exists()]


def own_cgroup(hierarchy: Path) -> Path:
    """This process's cgroup in ``hierarchy`` (from /proc/self/cgroup), as a directory."""
    name = hierarchy.name
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, controllers, path = line.split(":", 2)
        if hierarchy == CGROUP_ROOT or (name == "unified" and hid == "0") or f"name={name}" in controllers.split(","):
            return hierarchy / path.lstrip("/")
    return hierarchy


@dataclass
class _Plan:
    """What ``boot`` does inside the namespaces; written as ``box.json`` in the work directory."""

    prefix: str
    units: str
    binds: dict[str, str] = field(default_factory=dict)  # box path -> host path
    setup: list[list[str]] = field(default_factory=list)


class SystemdBox:
    """One booted systemd (see the module docstring). ``units`` are written to the box's unit directory before it
    boots; ``binds`` map a path of the box to a host file or directory bound over it; ``setup`` commands run in the
    box's network namespace before systemd starts (interfaces for the units)."""

    def __init__(
        self,
        *,
        units: Mapping[str, str],
        binds: Mapping[str, Path] | None = None,
        setup: Sequence[Sequence[str]] = (),
        prefix: str | None = None,
        boot_timeout: float = _BOOT_TIMEOUT_S,
    ) -> None:
        why = missing()
        if why is not None:
            raise SystemdBoxError(why)
        self.prefix = prefix or "sd" + secrets.token_hex(3)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"netns_lab-{self.prefix}-"))
        self.unit_dir = self.workdir / "units"
        self.unit_dir.mkdir()
        self.log_path = self.workdir / "systemd.log"
        self.cgroups = [own_cgroup(h) / f"netns_lab-{self.prefix}" for h in cgroup_hierarchies()]
        self.pid1: int | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        units = {**BASE_UNITS, **units}
        for name, text in units.items():
            (self.unit_dir / name).write_text(text)
        plan = _Plan(prefix=self.prefix, units=str(self.unit_dir), binds={k: str(v) for k, v in (binds or {}).items()},
                     setup=[list(c) for c in setup])  # fmt: skip
        (self.workdir / "box.json").write_text(json.dumps(plan.__dict__))
        try:
            self._start(boot_timeout)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ life

    def _start(self, timeout: float) -> None:
        with open(self.log_path, "ab", buffering=0) as log:
            self._popen = subprocess.Popen(
                [sys.executable, "-m", "netns_lab.systemd_box", "enter", str(self.workdir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while self.pid1 is None:
            self.pid1 = self._find_pid1()
            self._check_alive("starting")
            if time.monotonic() > deadline:
                raise SystemdBoxError(f"systemd box {self.prefix}: PID 1 did not appear within {timeout:.0f} s"
                                      f"\n{self.log()}")  # fmt: skip
            time.sleep(0.05)
        state = ""
        while time.monotonic() < deadline:
            self._check_alive("booting")
            state = self.systemctl("is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.1)
        raise SystemdBoxError(f"systemd box {self.prefix}: not running within {timeout:.0f} s (state {state!r})"
                              f"\n{self.log()}")  # fmt: skip

    def _find_pid1(self) -> int | None:
        """The box's PID 1 as this machine numbers it: ``unshare``'s child, once it is systemd."""
        assert self._popen is not None
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self._popen.pid}/task").iterdir():
                for child in (task / "children").read_text().split():
                    if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                        return int(child)
        return None

    def _check_alive(self, step: str) -> None:
        assert self._popen is not None
        if self._popen.poll() is not None:
            raise SystemdBoxError(f"systemd box {self.prefix}: exited while {step} (status {self._popen.returncode})"
                                  f"\n{self.log()}")  # fmt: skip

    def close(self) -> None:
        """Kill the box (every process in it), remove its cgroups and work directory. Idempotent."""
        if self.pid1 is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid1, signal.SIGKILL)
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(5)  # unshare reaps the box's PID 1 and exits
            if self._popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(10)
        for cg in self.cgroups:
            _remove_cgroup(cg)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.pid1 = None

    def __enter__(self) -> SystemdBox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ use

    def exec(self, argv: Sequence[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the box (its mounts, PIDs, network, UTS and IPC namespaces)."""
        if self.pid1 is None:
            raise SystemdBoxError(f"systemd box {self.prefix} is not running")
        nsenter = ["nsenter", "--target", str(self.pid1), "--mount", "--pid", "--net", "--uts", "--ipc"]
        done = subprocess.run([*nsenter, "--", *argv], capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise SystemdBoxError(f"systemd box {self.prefix}: {' '.join(argv)} exited {done.returncode}: "
                                  f"{(done.stdout + done.stderr).strip()}")  # fmt: skip
        return done

    def systemctl(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``systemctl ARGS`` against the box's systemd."""
        return self.exec(["systemctl", "--no-pager", *args], check=check, timeout=timeout)

    def show(self, unit: str, *props: str) -> dict[str, str]:
        """``systemctl show UNIT -p ...`` as a dict."""
        out = self.systemctl("show", unit, *(f"--property={p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def unit_pids(self, unit: str) -> list[int]:
        """The box's PIDs in ``unit``'s cgroup (its processes as the box numbers them)."""
        cgroup = self.show(unit, "ControlGroup").get("ControlGroup", "")
        if not cgroup:
            return []
        pids: set[int] = set()
        for hierarchy in cgroup_hierarchies():
            path = Path(f"/proc/{self.pid1}/root") / str(hierarchy).lstrip("/") / cgroup.lstrip("/") / "cgroup.procs"
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in path.read_text().split())
        return sorted(pids)

    def log(self, tail: int = 4000) -> str:
        """The end of systemd's own console log (manager messages: units started, failed, stopped)."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


def _remove_cgroup(path: Path, timeout: float = 5.0) -> None:
    """Remove a cgroup tree bottom-up once its processes are gone (a killed PID namespace empties it shortly)."""
    if not path.is_dir():
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                sub.rmdir()
            path.rmdir()
            return
        except OSError:
            if time.monotonic() > deadline:
                return  # a process still inside: left for the next clean, never an error at teardown
            time.sleep(0.05)


def remove_dead_boxes() -> list[str]:
    """``netns-lab clean``: the cgroups and work directories of boxes whose processes are all gone (a box dies
    with the process that made it, but one killed outright never ran :meth:`SystemdBox.close`). A box with any
    process left is live and untouched. Returns the prefixes removed."""
    dead: set[str] = set()
    live: set[str] = set()
    for hierarchy in cgroup_hierarchies():
        for cg in own_cgroup(hierarchy).glob("netns_lab-*"):
            prefix = cg.name.removeprefix("netns_lab-")
            if time.time() - cg.stat().st_mtime < _YOUNG_S:  # being built: empty for a moment before PID 1 joins
                live.add(prefix)
                continue
            procs = [p for sub in [cg, *cg.rglob("*")] if sub.is_dir()
                     for p in (sub / "cgroup.procs").read_text().split()]  # fmt: skip
            (live if procs else dead).add(prefix)
    dead -= live
    for prefix in sorted(dead):
        for hierarchy in cgroup_hierarchies():
            _remove_cgroup(own_cgroup(hierarchy) / f"netns_lab-{prefix}", timeout=0)
        for workdir in Path(tempfile.gettempdir()).glob(f"netns_lab-{prefix}-*"):
            shutil.rmtree(workdir, ignore_errors=True)
    return sorted(dead)


# ---------------------------------------------------------------------- the two programs that build the box


def _enter(workdir: Path) -> int:
    """Die with the caller, join the box's cgroups, exec ``unshare`` into the new namespaces."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # kept across execve: unshare dies with the caller
    box = _Plan(**json.loads((workdir / "box.json").read_text())).prefix
    for hierarchy in cgroup_hierarchies():
        cg = own_cgroup(hierarchy) / f"netns_lab-{box}"
        cg.mkdir(exist_ok=True)
        (cg / "cgroup.procs").write_text("0")
    argv = ["unshare", "--pid", "--fork", "--kill-child", "--mount", "--net", "--uts", "--ipc",
            "--mount-proc", "--propagation", "private",
            sys.executable, "-m", "netns_lab.systemd_box", "boot", str(workdir)]  # fmt: skip
    os.execvp(argv[0], argv)


def _project_paths() -> list[Path]:
    """The directories the box's units run our code from: the interpreter's prefix (the .venv) and the checkout
    holding this package, outermost first and without one inside another."""
    paths = sorted({Path(sys.prefix).resolve(), Path(__file__).resolve().parent.parent}, key=lambda p: len(p.parts))
    out: list[Path] = []
    for p in paths:
        if not any(p.is_relative_to(q) for q in out):
            out.append(p)
    return out


def _boot(workdir: Path) -> int:
    """Inside the namespaces: the mounts, the set-up commands, then exec systemd as PID 1.

    Order matters: the unit directory and the test's binds live under the host's /tmp, so they are bound before
    /tmp gets its own tmpfs (and so is the project, when it lives there); the root is made read-only last. systemd
    then sees only the box's units (``SYSTEMD_UNIT_PATH``), so no sysinit unit of the machine runs: a first version
    that let the machine's units load had ``systemd-tmpfiles --boot`` empty the machine's /tmp."""
    plan = _Plan(**json.loads((workdir / "box.json").read_text()))

    def run(*argv: str) -> None:
        subprocess.run(argv, check=True)

    run("mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run")
    Path(UNIT_DIR).mkdir(parents=True)
    run("mount", "--bind", plan.units, UNIT_DIR)
    for target, source in plan.binds.items():
        run("mount", "--bind", source, target)
    # this interpreter and the project (a checkout and its .venv may live under /tmp, as a CI clone can): held on
    # /run while /tmp and /var/tmp get their tmpfs, then moved back to their own paths
    kept = [p for p in _project_paths() if any(p.is_relative_to(s) for s in ("/tmp", "/var/tmp"))]
    for i, path in enumerate(kept):
        Path(f"/run/netns_lab-keep{i}").mkdir()
        run("mount", "--bind", str(path), f"/run/netns_lab-keep{i}")
    for scratch in ("/tmp", "/var/tmp"):
        run("mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", scratch)
    for i, path in enumerate(kept):
        path.mkdir(parents=True, exist_ok=True)
        run("mount", "--move", f"/run/netns_lab-keep{i}", str(path))
    run("mount", "-o", "remount,bind,ro", "/")  # this namespace's view of the root only: the machine's stays rw
    run("ip", "link", "set", "lo", "up")
    for argv in plan.setup:
        run(*argv)
    env = {"container": "netns-lab", "SYSTEMD_UNIT_PATH": UNIT_DIR,
           "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}  # fmt: skip
    os.execve(str(SYSTEMD), [str(SYSTEMD), "--system", f"--unit={BOOT_TARGET}", "--log-target=console",
                             "--log-level=info", "--show-status=no"], env)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("enter", "boot"):
        print("usage: python -m netns_lab.systemd_box enter|boot WORKDIR (started by SystemdBox)", file=sys.stderr)
        return 2
    workdir = Path(args[1])
    return _enter(workdir) if args[0] == "enter" else _boot(workdir)


if __name__ == "__main__":
    sys.exit(main())
