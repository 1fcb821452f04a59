"""Run a Python function inside a kernel that has the modules a lab needs (IPVS above all).

Many CI kernels (this project's included) are built without IPVS. Debian's User-Mode Linux kernel
(``/usr/bin/linux.uml``, package ``user-mode-linux``) boots as an ordinary process in about two seconds
with the host's filesystem as its root (hostfs), so the project's code and venv are visible inside
unchanged. When the host kernel already has the requested modules, the function runs in a fresh host
process instead; either way the caller gets a :class:`KernelRun` that says which kernel was used.

The boot recipe (docs/architecture.md, "IPVS in User-Mode Linux"): the init script mounts proc/sys, a
tmpfs over ``/run`` (so
``ip netns add`` does not write into the host's ``/run/netns`` through hostfs) and over ``/tmp``, makes
the UML modules visible to ``modprobe`` without touching the host's ``/lib/modules``, runs the target in a
fresh interpreter and powers off. Results travel through a per-call directory on the host filesystem,
bind-mounted into the guest before ``/tmp`` is covered. A UML left running is a defect: every instance
runs in its own process group under a unique ``umid``, and both are killed on timeout, error and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "IPVS_MODULES",
    "UML_BINARY",
    "UML_MODULES_ROOT",
    "KernelRun",
    "KernelRunError",
    "KernelUnavailable",
    "choose_kernel",
    "guest_path",
    "host_has_ipvs",
    "host_path",
    "run_in_kernel",
]

UML_BINARY = Path("/usr/bin/linux.uml")
UML_MODULES_ROOT = Path("/usr/lib/uml/modules")
UML_PACKAGE = "user-mode-linux"

#: What a load-balancer lab needs: IPVS with its common schedulers, the links a topology is made of, and the
#: netfilter pieces IPVS NAT and nftables-based faults rely on.
IPVS_MODULES: tuple[str, ...] = (
    "ip_vs",
    "ip_vs_rr",
    "ip_vs_wrr",
    "ip_vs_lc",
    "ip_vs_wlc",
    "ip_vs_sh",
    "ip_vs_dh",
    "ip_vs_sed",
    "ip_vs_nq",
    "ip_vs_mh",
    "veth",
    "bridge",
    "macvlan",
    "nf_conntrack",
    "nf_nat",
    "nf_tables",
)

#: Environment variable that forces the choice: "host", "uml" or "auto" (default).
KERNEL_ENV = "NETNS_LAB_KERNEL"
#: Guest memory; UML backs it with a sparse file, so only touched pages cost host memory.
UML_MEM_ENV = "NETNS_LAB_UML_MEM"
_DEFAULT_UML_MEM = "512M"

_GUEST_START = "=== netns_lab guest start ==="
_OUTPUT_TAIL = 8000
_REQUEST = "request.json"
_RESULT = "result.json"
_RC = "rc"
_CONSOLE = "console.log"
_GUEST_IO = "/run/netns-lab-io"


@dataclass(frozen=True)
class KernelRun:
    """Outcome of :func:`run_in_kernel`.

    ``kernel`` is ``"host <release>"`` or ``"uml <release>"``; ``result`` is the JSON value the target
    returned (``None`` when it ended with ``SystemExit``); ``returncode`` is the exit status of the guest
    interpreter; ``output`` is what the target printed (for UML, the console after boot).
    """

    kernel: str
    returncode: int
    result: Any
    output: str


class KernelUnavailable(RuntimeError):
    """No kernel with the requested modules: the host lacks them and User-Mode Linux is not installed."""


class KernelRunError(RuntimeError):
    """The target failed inside the kernel, the kernel failed to boot, or the run timed out.

    ``output`` holds the tail of the console/output log so the cause is visible without digging for files.
    """

    def __init__(self, message: str, *, output: str = "", kernel: str = "", returncode: int | None = None):
        super().__init__(message)
        self.output = output
        self.kernel = kernel
        self.returncode = returncode


# ---------------------------------------------------------------------------------------------- choice


def _modules_builtin(release: str) -> set[str]:
    path = Path("/lib/modules") / release / "modules.builtin"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return set()
    return {Path(line).name.removesuffix(".ko").replace("-", "_") for line in lines if line.strip()}


def _host_has_module(name: str, release: str, builtin: set[str]) -> bool:
    """Whether the host kernel has ``name`` now or can load it.

    A kernel built without loadable modules (no ``/lib/modules/<release>``, as on this project's CI VMs)
    cannot prove a built-in driver without parameters is there, so such names count as present, except
    IPVS, which is proven by ``/proc/net/ip_vs`` -- the one feature that decides between host and UML.
    """
    norm = name.replace("-", "_")
    if Path("/sys/module", norm).exists() or norm in builtin:
        return True
    modprobe = shutil.which("modprobe") or "/usr/sbin/modprobe"
    if Path("/lib/modules", release).is_dir() and Path(modprobe).exists():
        try:
            done = subprocess.run([modprobe, "-q", name], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0
    if norm.startswith("ip_vs"):
        return Path("/proc/net/ip_vs").exists()
    return True


def _uml_release() -> str:
    """Release of the installed UML kernel, from its module directory (what ``uname -r`` says inside)."""
    try:
        dirs = sorted(p.name for p in UML_MODULES_ROOT.iterdir() if p.is_dir())
    except OSError:
        dirs = []
    if not dirs:
        raise KernelUnavailable(
            f"User-Mode Linux modules not found under {UML_MODULES_ROOT}; "
            f"install the Debian package {UML_PACKAGE} (apt-get install {UML_PACKAGE})"
        )
    return dirs[-1]


def host_has_ipvs() -> bool:
    """Whether the kernel this process runs on has IPVS (now, or as a module it can load)."""
    release = os.uname().release
    return _host_has_module("ip_vs", release, _modules_builtin(release))


def choose_kernel(modules: Sequence[str] = IPVS_MODULES, *, force: str | None = None) -> str:
    """Return ``"host"`` when the host kernel has ``modules``, else ``"uml"`` (checking UML is installed).

    ``force`` (or ``NETNS_LAB_KERNEL=host|uml``) overrides the automatic choice (``uml`` is handy to test the
    UML path on a host that has IPVS). Raises :class:`KernelUnavailable` naming the package when neither will
    do.
    """
    forced = (force or os.environ.get(KERNEL_ENV, "auto")).strip().lower() or "auto"
    if forced not in ("auto", "host", "uml"):
        raise KernelUnavailable(f"{KERNEL_ENV}={forced!r} is not one of: auto, host, uml")
    if forced == "host":
        return "host"
    if forced == "auto":
        release = os.uname().release
        builtin = _modules_builtin(release)
        missing = [m for m in modules if not _host_has_module(m, release, builtin)]
        if not missing:
            return "host"
    else:
        missing = list(modules)
    if not os.access(UML_BINARY, os.X_OK):
        raise KernelUnavailable(
            f"the host kernel lacks {', '.join(missing)} and User-Mode Linux ({UML_BINARY}) is not "
            f"installed; install the Debian package {UML_PACKAGE} "
            f"(apt-get install {UML_PACKAGE}; bash bootstrap.sh does it)"
        )
    _uml_release()
    return "uml"


# ------------------------------------------------------------------------------------------- host side


def _guest_pythonpath() -> str:
    """The host interpreter's import path, so whatever the caller can import the guest can too."""
    seen: list[str] = []
    for entry in [os.getcwd(), *sys.path]:
        if entry and entry not in seen and Path(entry).exists():
            seen.append(entry)
    return os.pathsep.join(seen)


def _io_parent() -> str:
    """Where the per-call directory goes: the temp dir, unless the guest could not see it there.

    Inside UML ``/run`` is a fresh tmpfs and ``/dev`` a devtmpfs, so a TMPDIR below them (``/dev/shm``,
    ``/run/user/0``) would be invisible to the guest; ``/tmp`` is bound back in by the init script.
    """
    base = os.path.abspath(tempfile.gettempdir())
    if base.startswith(("/run/", "/dev/", "/proc/", "/sys/")) or base in ("/run", "/dev"):
        return "/tmp"
    return base


def _under_tmp(path: str) -> bool:
    return os.path.abspath(path).startswith("/tmp/")


#: where the guest sees the host's /tmp (the init script binds it there before covering /tmp with a tmpfs)
_GUEST_HOST_TMP = "/run/netns-lab-hosttmp"
#: host paths a guest cannot see: its own tmpfs and kernel filesystems cover them
_GUEST_HIDDEN = ("/run", "/dev", "/proc", "/sys")


def guest_path(path: str | Path) -> Path:
    """Where a User-Mode Linux guest of :func:`run_in_kernel` sees the host's ``path`` (hostfs root, the host's
    ``/tmp`` moved aside). ValueError for a path the guest cannot see (under ``/run``, ``/dev``, ...)."""
    p = os.path.abspath(path)
    if p == "/tmp" or _under_tmp(p):
        return Path(_GUEST_HOST_TMP + p[len("/tmp") :])
    if any(p == h or p.startswith(h + "/") for h in _GUEST_HIDDEN):
        raise ValueError(f"{p}: a User-Mode Linux guest cannot see this host path; use one under /tmp or /var")
    return Path(p)


def host_path(path: str | Path) -> Path:
    """The host path a guest's ``path`` (from :func:`guest_path`) stands for."""
    p = str(path)
    if p == _GUEST_HOST_TMP or p.startswith(_GUEST_HOST_TMP + "/"):
        return Path("/tmp" + p[len(_GUEST_HOST_TMP) :])
    return Path(p)


def _init_script(iodir: Path, modules: Sequence[str]) -> str:
    """The guest's PID 1: mount what a lab needs, run the target in a fresh interpreter, sync, power off."""
    q = shlex.quote
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "PYTHONPATH": _guest_pythonpath(),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        KERNEL_ENV: "host",  # nested run_in_kernel calls inside the guest use the guest kernel
    }
    exports = "\n".join(f"export {k}={q(v)}" for k, v in env.items())
    mods = " ".join(q(m) for m in modules)
    # The guest gets a fresh /tmp (what it writes there must not land on the host), but code the caller
    # can import from under the host's /tmp (a pytest tmp_path, say) must stay visible: bind those back.
    wanted = [os.getcwd(), sys.prefix, os.path.dirname(sys.executable), *env["PYTHONPATH"].split(os.pathsep)]
    keep = sorted({os.path.abspath(p) for p in wanted if _under_tmp(p)})
    rebind = "\n".join(
        f"mkdir -p {q(p)} && mount --bind /run/netns-lab-hosttmp/{q(p[len('/tmp/') :])} {q(p)}" for p in keep
    )
    return f"""#!/bin/sh
{exports}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p {_GUEST_IO}
mount --bind {q(str(iodir))} {_GUEST_IO}
mkdir -p {_GUEST_HOST_TMP}
mount --bind /tmp {_GUEST_HOST_TMP}
mount -t tmpfs -o mode=1777 tmpfs /tmp
{rebind}
rel=$(uname -r)
mkdir -p /run/netns-lab-mods/lib/modules/$rel
mount --bind {q(str(UML_MODULES_ROOT))}/$rel /run/netns-lab-mods/lib/modules/$rel
printf '#!/bin/sh\\nexec /sbin/modprobe -d /run/netns-lab-mods "$@"\\n' > /run/netns-lab-mods/modprobe
chmod 0755 /run/netns-lab-mods/modprobe
echo /run/netns-lab-mods/modprobe > /proc/sys/kernel/modprobe
ip link set lo up 2>/dev/null
cd {q(os.getcwd())} 2>/dev/null || cd /
echo {q(_GUEST_START)}
(
    out=$(/run/netns-lab-mods/modprobe -a {mods} 2>&1) || echo "$out" > {_GUEST_IO}/modprobe.err
    : > /run/netns-lab-mods/ready
) &
{q(sys.executable)} -c {q(_GUEST_CODE)} {_GUEST_IO} /run/netns-lab-mods/ready
echo $? > {_GUEST_IO}/{_RC}.tmp && mv {_GUEST_IO}/{_RC}.tmp {_GUEST_IO}/{_RC}
sync
poweroff -f
"""


def _kill_instance(proc: subprocess.Popen[bytes], marker: str, *, grace: float = 0) -> None:
    """SIGKILL the run's process group, then any straggler carrying this run's unique marker, and reap.

    With ``grace`` the group first gets SIGTERM and that long to exit: in the host kernel the target's
    namespaces outlive it, and a Lab tears them down on SIGTERM. A UML instance needs no grace: everything
    the target made dies with the kernel.
    """
    if grace > 0 and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    if proc.poll() is None:  # once reaped, its pid (and group id) may belong to someone else
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    # UML's helper processes are forked from linux.uml and share its command line (and so the umid); a
    # helper that changed process group would still carry it. Only this run's unique marker is matched.
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a declared dependency
        psutil = None
    if psutil is not None:
        # Rescan until none is left: SIGKILL takes effect asynchronously (slowly for ptraced UML processes)
        # and a helper forked during the scan would be missed by a single pass.
        deadline = time.monotonic() + 10
        while True:
            live = []
            for p in psutil.process_iter(["cmdline", "status"]):
                cmd = p.info.get("cmdline") or []
                if p.info.get("status") != psutil.STATUS_ZOMBIE and any(marker in part for part in cmd):
                    live.append(p)
                    with contextlib.suppress(psutil.Error):
                        p.kill()
            if not live or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


#: Supervisor shell between the caller and the instance. setpriv gives it SIGHUP when the calling thread
#: dies (even by SIGKILL); the caller itself sends SIGTERM on timeout. Either way the supervisor ends the
#: run: SIGTERM to the child and GRACE seconds (in the host kernel a Lab inside tears its namespaces down on
#: SIGTERM), then SIGKILL to the child's own process group (linux.uml calls setsid(), and killing only its
#: main process would leave its helpers running) and to the supervisor's group. On SIGHUP it also removes
#: the per-call directory, which nobody else is left to remove. argv: GRACE IODIR CMD...
_SUPERVISOR = r"""
grace=$1; iodir=$2; shift 2
end_run() {
    kill -TERM $child 2>/dev/null; n=0
    while kill -0 $child 2>/dev/null && [ $n -lt $((grace * 10)) ]; do sleep 0.1; n=$((n + 1)); done
    kill -KILL -$child 2>/dev/null; kill -KILL $child 2>/dev/null
}
trap 'end_run; kill -KILL 0' TERM
trap 'end_run; rm -rf "$iodir"; kill -KILL 0' HUP
"$@" &
child=$!
wait $child
"""


def _die_with_caller(argv: list[str], grace: float, iodir: Path) -> list[str]:
    """Wrap ``argv`` in the supervisor so nothing of the run outlives the caller (see ``_SUPERVISOR``)."""
    wrapped = ["/bin/sh", "-c", _SUPERVISOR, "netns-lab-supervisor", str(round(grace)), str(iodir), *argv]
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "HUP", *wrapped] if setpriv else wrapped


def _tail(text: str) -> str:
    return text if len(text) <= _OUTPUT_TAIL else "...\n" + text[-_OUTPUT_TAIL:]


def _guest_output(console: str) -> str:
    """Console text after the init script's start line (boot chatter before it is noise to the caller)."""
    idx = console.find(_GUEST_START)
    return console[idx + len(_GUEST_START) :].lstrip("\n") if idx >= 0 else console


def _run_process(
    argv: list[str], iodir: Path, timeout: float, marker: str, kernel: str, *, grace: float
) -> tuple[int, str]:
    """Run ``argv`` (UML or the host guest runner) in its own session; console goes to a file in ``iodir``."""
    console_path = iodir / _CONSOLE
    # No TMPDIR: UML then backs guest memory with an unlinked file in /dev/shm (RAM), not on disk. The
    # import path goes along so a host-kernel run imports what the caller can (UML gets it from init.sh).
    env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}
    env["PYTHONPATH"] = _guest_pythonpath()
    with console_path.open("wb") as console:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_instance(proc, marker, grace=grace)
            text = console_path.read_text(errors="replace")
            raise KernelRunError(
                f"run in {kernel} timed out after {timeout:g}s; instance killed",
                output=_tail(_guest_output(text)),
                kernel=kernel,
            ) from None
        except BaseException:
            _kill_instance(proc, marker, grace=grace)
            raise
        finally:
            if proc.poll() is None:
                _kill_instance(proc, marker)
        # A clean poweroff leaves nothing behind, but make sure no helper outlived the main process.
        _kill_instance(proc, marker)
    return rc, console_path.read_text(errors="replace")


def run_in_kernel(
    target: str,
    payload: Any = None,
    *,
    modules: Sequence[str] = IPVS_MODULES,
    timeout: float = 300,
    force: str | None = None,
    mem: str | None = None,
) -> KernelRun:
    """Call ``target`` (``"package.module:function"``) with ``payload`` in a kernel that has ``modules``.

    The function runs in a fresh interpreter: in the host kernel when it has the modules, else in a User-Mode
    Linux instance booted for this call (hostfs root, tmpfs ``/run`` and ``/tmp``, UML modules loaded). Inside
    it may create namespaces freely; they die with the instance. ``payload`` and the return value travel as
    JSON. Exceptions inside become :class:`KernelRunError` carrying the traceback; so do boot failures and
    timeouts (the instance is killed). Keep boots few: loop inside one call rather than calling per example.
    ``force`` ("host", "uml") forces the choice; ``mem`` sets the guest's memory (default 512M, or
    ``$NETNS_LAB_UML_MEM``).
    """
    module_name, sep, func_name = target.partition(":")
    if not sep or not module_name or not func_name or not func_name.isidentifier():
        raise ValueError(f"target {target!r} must look like 'package.module:function'")
    try:
        request = json.dumps({"target": target, "payload": payload})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"payload for {target} is not JSON-serialisable: {exc}") from None
    choice = choose_kernel(modules, force=force)
    marker = f"netns-lab-uml-{os.getpid()}-{uuid.uuid4().hex[:10]}"
    iodir = Path(tempfile.mkdtemp(prefix=marker + "-", dir=_io_parent()))
    try:
        (iodir / _REQUEST).write_text(request)
        if choice == "host":
            kernel = f"host {os.uname().release}"
            argv = [sys.executable, "-c", _GUEST_CODE, str(iodir)]
        else:
            kernel = f"uml {_uml_release()}"
            init = iodir / "init.sh"
            init.write_text(_init_script(iodir, modules))
            init.chmod(0o755)
            mem = mem or os.environ.get(UML_MEM_ENV, _DEFAULT_UML_MEM)
            argv = [
                str(UML_BINARY),
                f"mem={mem}",
                f"umid={marker}",
                f"uml_dir={iodir}",
                "root=/dev/root",
                "rootfstype=hostfs",
                "rootflags=/",
                "rw",
                "quiet",
                f"init={init}",
                "con=null",
                "con0=fd:0,fd:1",
            ]
        grace = 5.0 if choice == "host" else 0.0
        argv = _die_with_caller(argv, grace, iodir)
        rc, console = _run_process(argv, iodir, timeout, marker, kernel, grace=grace)
        output = _guest_output(console) if choice == "uml" else console
        return _collect(iodir, kernel, rc, output, target)
    finally:
        shutil.rmtree(iodir, ignore_errors=True)


def _collect(iodir: Path, kernel: str, process_rc: int, output: str, target: str) -> KernelRun:
    modprobe_err = iodir / "modprobe.err"
    if modprobe_err.exists():
        raise KernelRunError(
            f"loading modules in {kernel} failed: {modprobe_err.read_text().strip()}",
            output=_tail(output),
            kernel=kernel,
        )
    rc_file = iodir / _RC
    if rc_file.exists():
        try:
            rc = int(rc_file.read_text().strip())
        except ValueError:
            rc = process_rc
    else:
        rc = process_rc
    result_file = iodir / _RESULT
    if not result_file.exists():
        raise KernelRunError(
            f"{target} in {kernel} ended (status {rc}) without writing a result; console tail follows:\n"
            f"{_tail(output)}",
            output=_tail(output),
            kernel=kernel,
            returncode=rc,
        )
    data = json.loads(result_file.read_text())
    if data.get("status") == "error":
        raise KernelRunError(
            f"{target} failed in {kernel}:\n{data.get('traceback', '')}",
            output=_tail(output),
            kernel=kernel,
            returncode=rc,
        )
    if data.get("status") == "exit":
        return KernelRun(kernel=kernel, returncode=int(data.get("code", rc)), result=None, output=output)
    return KernelRun(kernel=kernel, returncode=rc, result=data.get("result"), output=output)


# ------------------------------------------------------------------------------------------ guest side


#: The guest runner, run with ``python -c``: it imports only what it needs (every import is a few hostfs round
#: trips inside UML, and importing this module would pull in dataclasses -> inspect -> ast), calls the
#: target and writes the outcome atomically with fsync -- the guest powers off right after, and the host must
#: see the whole file. argv: IODIR [READY-FLAG: wait for this file (modules loaded) before calling the target].
_GUEST_CODE = r"""
import json, os, signal, sys, traceback
def _on_term(signum, frame):
    # The runner's SIGTERM (timeout, Ctrl-C) unwinds the target, so its finally blocks remove what it made.
    # It arrives twice (to the process group, and from the supervisor): a second one must not interrupt
    # the clean-up the first started; SIGKILL still follows after the grace period.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)
signal.signal(signal.SIGTERM, _on_term)
sys_argv = list(sys.argv)
iodir = sys_argv[1]
def write(data):
    tmp = os.path.join(iodir, "result.json.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(iodir, "result.json"))
with open(os.path.join(iodir, "request.json")) as f:
    request = json.load(f)
target = request["target"]
module_name, _, func_name = target.partition(":")
sys.argv = [target]
try:
    import importlib
    func = getattr(importlib.import_module(module_name), func_name)
    if len(sys_argv) > 2:  # UML: modules load while this interpreter starts; wait for them
        import time
        deadline = time.monotonic() + 120
        while not os.path.exists(sys_argv[2]) and time.monotonic() < deadline:
            time.sleep(0.01)
        if os.path.exists(os.path.join(iodir, "modprobe.err")):
            raise SystemExit(3)
    value = func(request["payload"])
    try:
        encoded = json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{target} returned a value that is not JSON-serialisable: {exc}") from None
    write({"status": "ok", "result": encoded})
    rc = 0
except SystemExit as exc:
    rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    write({"status": "exit", "code": rc})
except BaseException:
    tb = traceback.format_exc()
    sys.stderr.write(tb)
    write({"status": "error", "traceback": tb})
    rc = 1
sys.stdout.flush()
sys.stderr.flush()
os._exit(rc)
"""


def probe(payload: Any = None) -> dict[str, Any]:
    """A target that reports the kernel it runs in: release, IPVS present, loaded modules."""
    try:
        loaded = sorted(line.split()[0] for line in Path("/proc/modules").read_text().splitlines())
    except OSError:
        loaded = []
    return {"release": platform.release(), "ipvs": Path("/proc/net/ip_vs").exists(), "modules": loaded}


def _bench(runs: int) -> int:
    """Time ``runs`` boot + probe + teardown cycles of the kernel run_in_kernel picks; print the median."""
    times = []
    kernel = ""
    for _ in range(runs):
        started = time.monotonic()
        run = run_in_kernel("netns_lab.uml:probe", timeout=120)
        times.append(time.monotonic() - started)
        kernel = run.kernel
    times.sort()
    median = times[len(times) // 2]
    print(
        f"{kernel}: boot + probe + teardown median {median:.2f}s "
        f"(min {times[0]:.2f}s, max {times[-1]:.2f}s, {runs} runs)"
    )
    return 0


def _main(argv: Sequence[str]) -> int:
    args = list(argv)
    if args[:1] == ["--probe"]:
        try:
            run = run_in_kernel("netns_lab.uml:probe", timeout=120)
        except (KernelUnavailable, KernelRunError) as exc:
            print(f"netns_lab.uml: {exc}", file=sys.stderr)
            return 1
        print(f"kernel: {run.kernel}; IPVS: {'yes' if run.result['ipvs'] else 'no'}")
        return 0
    if args[:1] == ["--bench"]:
        try:
            runs = int(args[1]) if len(args) > 1 else 5
        except ValueError:
            print(f"netns_lab.uml: --bench takes a number of runs, not {args[1]!r}", file=sys.stderr)
            return 2
        return _bench(max(1, runs))
    sys.stderr.write("usage: python -m netns_lab.uml --probe | --bench [RUNS]\n")
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
