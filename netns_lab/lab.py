"""Build a :class:`~netns_lab.topology.Topology` as real network namespaces, run processes in it, tear down.

Layout in the kernel, for run prefix ``nl3f2a``:

* every host and every switch is a namespace ``nl3f2a-<name>``; nothing of the lab is in the root namespace,
  so parallel runs never collide on interface names;
* a switch namespace holds one bridge ``nl3f2abr`` (multicast snooping off so VRRP/IPv6 multicast floods,
  bridge-netfilter off, IPv6 off on the switch itself so it adds no traffic of its own to the wire);
* a link is a veth: ``<ifname>`` in the host, ``<host>.<ifname>`` (or ``p<n>``) as a bridge port.

Each namespace is configured by a forked child that enters it and talks netlink there with a plain pyroute2
``IPRoute``: one fork per namespace instead of one per netlink socket, and hosts are configured in parallel.
Sysctls are written through ``/proc/sys/net`` inside that child, which is per-namespace.

Teardown needs no netlink at all (kill the processes inside, unmount the namespace files), so it runs safely
from the SIGINT/SIGTERM handler the context manager installs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import ipaddress
import json
import os
import secrets
import signal
import subprocess
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, ClassVar

from pyroute2 import IPRoute, netns

from netns_lab import cleanup
from netns_lab.process import LabProcess, netns_argv
from netns_lab.topology import Link, Topology, port_ifname

__all__ = ["Lab", "LabCommandError", "LabError"]

_CLONE_NEWNET = 0x40000000
_IFA_F_NODAD = 0x02


class LabError(RuntimeError):
    """Building or using a lab failed; the message names the run prefix and the host or switch."""


class LabCommandError(subprocess.CalledProcessError):
    """``Lab.exec(..., check=True)`` failed; str() names the host and shows stderr."""

    def __init__(self, host: str, returncode: int, cmd: list[str], output: str, stderr: str) -> None:
        super().__init__(returncode, cmd, output, stderr)
        self.host = host

    def __str__(self) -> str:
        err = (self.stderr or "").strip() or (self.output or "").strip()
        return f"command {self.cmd!r} in host {self.host!r} exited {self.returncode}" + (
            f": {err}" if err else ""
        )


# --------------------------------------------------------------------------- namespace children
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _enter_new_netns(name: str) -> None:
    """In a forked child: unshare a new netns and bind it at /run/netns/<name> (like `ip netns add`)."""
    if _libc().unshare(_CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET) failed: {os.strerror(err)}")
    netns.attach(name, os.getpid())


def _enter_netns(name: str) -> None:
    netns.setns(name, flags=0)


def _write_sysctl(key: str, value: str, *, missing_ok: bool = False) -> None:
    """Write a net.* sysctl of the current namespace ("a.b.c" or "a/b.c/d" like sysctl(8))."""
    # sysctl(8) convention: with "/" separators, dots are part of names (e.g. VLAN interface "eth0.10").
    path = "/proc/sys/" + (key if "/" in key else key.replace(".", "/"))
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except FileNotFoundError:
        if missing_ok:
            return
        raise LabError(f"sysctl {key}: no such setting ({path})") from None
    except OSError as exc:
        raise LabError(f"sysctl {key}={value}: {exc.strerror}") from None


def _run_children(jobs: Sequence[tuple[str, Callable[[], None]]]) -> list[str]:
    """Fork one child per job (all in parallel), run it, and return the error messages of failed ones.

    A child must not return into the caller's stack (pytest, asyncio...), so it always ends with os._exit.
    """
    running: list[tuple[str, int, int]] = []
    for label, fn in jobs:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                os.close(r)
                for sig in (signal.SIGINT, signal.SIGTERM):  # the parent's teardown handler is not for us
                    signal.signal(sig, signal.SIG_DFL)
                asyncio.events._set_running_loop(None)  # a sync IPRoute refuses to run "inside" a loop
                fn()
                code = 0
            except BaseException as exc:
                msg = str(exc) if isinstance(exc, LabError) else traceback.format_exc(limit=4).strip()
                with contextlib.suppress(Exception):
                    os.write(w, msg.encode(errors="replace")[:8000])
            finally:
                os._exit(code)
        os.close(w)
        running.append((label, pid, r))
    errors = []
    for label, pid, r in running:
        chunks = []
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            text = b"".join(chunks).decode(errors="replace") or f"child exited with status {status}"
            errors.append(f"{label}: {text}")
    return errors


# --------------------------------------------------------------------------- the lab
class Lab:
    """A topology built as namespaces; a context manager that always tears down (exceptions, SIGINT, SIGTERM).

    ``with Lab(Topology.default()) as lab: lab.exec("client", ["ip", "-br", "addr"])``

    Outside a ``with`` block call build() and teardown() yourself (no signal handlers are installed then).
    Signal handlers are installed only from the main thread; they tear down, then behave as the previous
    handler would (SIGINT: KeyboardInterrupt; SIGTERM: SystemExit(143)) so the program still ends.

    This class is also the seam of the scenario runner's executors: whatever builds the topology, a lab's hosts
    are named namespaces (``netns(host)``), its switches are bridges reached through ``switch_namespace()``, and
    ``exec``/``start``/``teardown`` work the same; :class:`netns_lab.mn_adapter.MininetLab` builds it with Mininet.
    """

    #: True when the switches' bridges share a namespace with things that are not the lab's (Mininet: the root
    #: namespace), so whatever is put there (nft tables) must carry the run's prefix and touch only its ports
    shared_switch_namespace: ClassVar[bool] = False
    #: the name of this executor (``netns-lab run --executor``)
    executor: ClassVar[str] = "netns"
    #: scenario fault kinds this kind of lab cannot honour, with the reason (the runner refuses such scenarios)
    refused_faults: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        topology: Topology,
        *,
        prefix: str | None = None,
        log_dir: Path | None = None,
        scenario: str = "",
        interactive: bool = False,
    ) -> None:
        if not isinstance(topology, Topology):
            raise TypeError(f"Lab needs a netns_lab.topology.Topology, got {type(topology).__name__}")
        self.topology = topology
        if prefix is None:
            prefix = self._free_prefix()
        elif not cleanup.PREFIX_RE.match(prefix):
            raise LabError(f"bad prefix {prefix!r}: use 2-8 characters a-z, 0-9, starting with a letter")
        self.prefix: str = prefix
        self.log_dir: Path = (
            Path(log_dir) if log_dir is not None else Path(tempfile.gettempdir()) / "netns_lab" / prefix
        )
        self.processes: list[LabProcess] = []
        self._state: cleanup.RunState | None = None
        self._built = False
        self._torn_down = False
        self._tearing_down = False  # a teardown is running (a signal now must not interrupt it)
        self._pending_signal: int | None = None  # such a signal, delivered again once the teardown is done
        self._signalled = False  # the teardown was started by a signal (which then ends the program)
        self._teardown_lock = threading.RLock()
        self._old_handlers: dict[int, Any] = {}
        self._owner_pid = os.getpid()
        self._names_used: dict[tuple[str, str], int] = {}
        self._scenario = scenario  # recorded in the run's state file, for `netns-lab list`
        self._interactive = interactive

    # ------------------------------------------------------------------ naming
    @staticmethod
    def _free_prefix() -> str:
        # under pytest-xdist each worker (gw0, gw1, ...) has its own prefix family (w0..., w1...), so two
        # workers' labs can never pick the same name, even between the check below and the creation
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        family = f"w{worker[2:]}" if worker.startswith("gw") and worker[2:].isdigit() and len(worker) <= 7 else "nl"
        for _ in range(100):
            prefix = family + secrets.token_hex(2)
            if not (cleanup.STATE_DIR / f"{prefix}.json").exists() and not any(
                cleanup.NETNS_DIR.glob(f"{prefix}-*")
            ):
                return prefix
        raise LabError("no free run prefix found")

    def _check_host(self, host: str) -> None:
        if host not in {h.name for h in self.topology.hosts}:
            raise LabError(f"lab {self.prefix}: no host {host!r} (hosts: {', '.join(self.hosts)})")

    def _check_switch(self, switch: str) -> None:
        if switch not in {s.name for s in self.topology.switches}:
            raise LabError(
                f"lab {self.prefix}: no switch {switch!r} (switches: "
                f"{', '.join(s.name for s in self.topology.switches)})"
            )

    def netns(self, host: str) -> str:
        """Namespace name of a host."""
        self._check_host(host)
        return f"{self.prefix}-{host}"

    def switch_netns(self, switch: str) -> str:
        """Namespace holding the bridge of ``switch``."""
        self._check_switch(switch)
        return f"{self.prefix}-{switch}"

    def switch_namespace(self, switch: str) -> str | None:
        """Where commands for ``switch`` run: its namespace's name, or None for this process's own namespace."""
        return self.switch_netns(switch)

    def bridge_ifname(self, switch: str) -> str:
        """Bridge interface name inside ``switch_netns(switch)``."""
        self._check_switch(switch)
        return f"{self.prefix}br"

    def port_ifname(self, host: str, ifname: str = "eth0") -> str:
        """The bridge port (in the switch namespace) that ``host``'s ``ifname`` is plugged into."""
        for i, link in enumerate(self.topology.links):
            if link.host == host and link.ifname == ifname:
                return port_ifname(host, ifname, i)
        raise LabError(f"lab {self.prefix}: host {host!r} has no link {ifname!r}")

    @property
    def hosts(self) -> list[str]:
        return [h.name for h in self.topology.hosts]

    def namespaces(self) -> list[str]:
        """Every namespace of this run (switches first)."""
        return [f"{self.prefix}-{s.name}" for s in self.topology.switches] + [
            f"{self.prefix}-{h.name}" for h in self.topology.hosts
        ]

    # ------------------------------------------------------------------ build
    def __enter__(self) -> Lab:
        self._install_signal_handlers()
        try:
            self.build()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.teardown()

    def build(self) -> None:
        """Create all bridges, veths, addresses, routes and sysctls; LabError names what failed."""
        if self._built or self._torn_down:
            raise LabError(f"lab {self.prefix}: build() may be called only once")
        self._built = True
        taken = [n for n in self.namespaces() if (cleanup.NETNS_DIR / n).exists()]
        if taken:  # not ours: never build into, or tear down, a namespace someone else made
            raise LabError(f"lab {self.prefix}: namespace(s) {', '.join(taken)} exist; use another prefix")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        state = cleanup.RunState(
            prefix=self.prefix,
            pid=os.getpid(),
            pid_start=cleanup.process_start_time(os.getpid()),
            namespaces=self.namespaces(),
            log_dir=str(self.log_dir),
            topology=self.topology.name,
            created=time.time(),
            scenario=self._scenario,
            interactive=self._interactive,
        )
        try:
            state.reserve()
        except FileExistsError:
            raise LabError(f"run prefix {self.prefix!r} is in use ({state.path} exists)") from None
        self._state = state
        self._build_network()

    def _build_network(self) -> None:
        """Create the namespaces, bridges, veths and their configuration (an executor's own way to build)."""
        topo = self.topology
        ports: dict[str, list[str]] = {s.name: [] for s in topo.switches}
        for i, link in enumerate(topo.links):
            ports[link.switch].append(port_ifname(link.host, link.ifname, i))

        errors = _run_children([(f"switch {s.name!r}", self._switch_job(s.name)) for s in topo.switches])
        if not errors:
            errors = _run_children([(f"host {h.name!r}", self._host_job(h.name)) for h in topo.hosts])
        if not errors:
            errors = _run_children(
                [(f"switch {name!r}", self._ports_job(name, names)) for name, names in ports.items() if names]
            )
        if errors:
            raise LabError(
                f"building lab {self.prefix} (topology {topo.name!r}) failed:\n  " + "\n  ".join(errors)
            )

    def _switch_job(self, switch: str) -> Callable[[], None]:
        ns, br = self.switch_netns(switch), self.bridge_ifname(switch)

        def job() -> None:
            _enter_new_netns(ns)
            for key in ("all", "default"):
                _write_sysctl(f"net.ipv6.conf.{key}.disable_ipv6", "1", missing_ok=True)
            with IPRoute() as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
                ipr.link(
                    "add",
                    ifname=br,
                    kind="bridge",
                    br_mcast_snooping=0,
                    br_nf_call_iptables=0,
                    br_nf_call_ip6tables=0,
                    br_nf_call_arptables=0,
                )
                ipr.link("set", index=ipr.link_lookup(ifname=br)[0], state="up")

        return job

    def _host_job(self, host: str, *, fresh: bool = True) -> Callable[[], None]:
        """Configure ``host``: in a new namespace with new veths (``fresh``), or in an existing one whose
        interfaces another builder made (Mininet)."""
        ns = self.netns(host)
        spec = self.topology.host(host)
        links: list[tuple[int, Link]] = [
            (i, lk) for i, lk in enumerate(self.topology.links) if lk.host == host
        ]

        def job() -> None:
            if fresh:
                _enter_new_netns(ns)
            else:
                _enter_netns(ns)
            # DAD off before any interface exists: new interfaces inherit it, addresses are usable at once.
            for key in ("all", "default"):
                _write_sysctl(f"net.ipv6.conf.{key}.accept_dad", "0", missing_ok=True)
                if not fresh:  # another builder may have turned IPv6 off (Mininet does in its hosts)
                    _write_sysctl(f"net.ipv6.conf.{key}.disable_ipv6", "0", missing_ok=True)
            with IPRoute() as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
                for i, link in links:
                    if fresh:
                        port = port_ifname(host, link.ifname, i)
                        ipr.link(
                            "add",
                            ifname=link.ifname,
                            kind="veth",
                            peer={"ifname": port, "net_ns_fd": self.switch_netns(link.switch)},
                        )
                    elif not ipr.link_lookup(ifname=link.ifname):
                        raise LabError(f"{link.ifname}: no such interface (the builder did not make it)")
                    _write_sysctl(f"net/ipv6/conf/{link.ifname}/accept_dad", "0", missing_ok=True)
                    if not fresh:
                        _write_sysctl(f"net/ipv6/conf/{link.ifname}/disable_ipv6", "0", missing_ok=True)
                for key, value in spec.sysctls.items():
                    try:
                        _write_sysctl(key, value)
                    except LabError as exc:
                        raise LabError(f"hosts[{host}].sysctls: {exc}") from None
                for _i, link in links:
                    idx = ipr.link_lookup(ifname=link.ifname)[0]
                    for addr in link.addresses:
                        iface = ipaddress.ip_interface(addr)
                        kw: dict[str, Any] = {}
                        if iface.version == 6:
                            kw["flags"] = _IFA_F_NODAD
                        try:
                            ipr.addr(
                                "add",
                                index=idx,
                                address=str(iface.ip),
                                prefixlen=iface.network.prefixlen,
                                **kw,
                            )
                        except Exception as exc:
                            raise LabError(f"{link.ifname}: adding address {addr}: {exc}") from None
                    ipr.link("set", index=idx, state="up")
                for route in spec.routes:
                    fam = 10 if route.family == 6 else 2
                    dst = route.dst
                    try:
                        if dst == "default":
                            ipr.route(
                                "add",
                                dst="::/0" if fam == 10 else "0.0.0.0/0",
                                gateway=route.gateway,
                                family=fam,
                            )
                        else:
                            ipr.route("add", dst=dst, gateway=route.gateway, family=fam)
                    except Exception as exc:
                        raise LabError(f"route {dst} via {route.gateway}: {exc}") from None

        return job

    def _ports_job(self, switch: str, ports: list[str]) -> Callable[[], None]:
        ns, br = self.switch_netns(switch), self.bridge_ifname(switch)

        def job() -> None:
            _enter_netns(ns)
            with IPRoute() as ipr:
                master = ipr.link_lookup(ifname=br)[0]
                for port in ports:
                    ipr.link("set", index=ipr.link_lookup(ifname=port)[0], master=master, state="up")

        return job

    # ------------------------------------------------------------------ teardown
    def teardown(self) -> None:
        """Kill every process in the lab's namespaces and remove them (idempotent; signal-handler safe)."""
        if os.getpid() != self._owner_pid:
            return  # a forked copy of this object (e.g. in a child unwinding its stack): the lab is not its
        with self._teardown_lock:
            if self._torn_down:
                return
            self._tearing_down = True
            self._torn_down = True
            try:
                for proc in self.processes:
                    proc.kill()
                if self._state is not None:
                    self._remove_network()
                for proc in self.processes:
                    proc.wait(2)
                if self._state is not None:
                    self._state.release()
            finally:
                self._tearing_down = False
                self._restore_signal_handlers()
                pending, self._pending_signal = self._pending_signal, None
                if pending is not None:  # now it acts as it would have without us
                    os.kill(os.getpid(), pending)

    def _remove_network(self) -> None:
        """Remove what the build made (plain syscalls: safe in a signal handler): every process inside the
        lab's namespaces, and the namespaces with their interfaces."""
        cleanup.remove_netns(self.namespaces())

    @property
    def state(self) -> cleanup.RunState | None:
        """The run's state file (written by build(), removed by teardown())."""
        return self._state

    @property
    def active(self) -> bool:
        """True between a successful build and teardown."""
        return self._built and not self._torn_down

    # ------------------------------------------------------------------ signals
    def _install_signal_handlers(self) -> None:
        self._owner_pid = os.getpid()
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; the with-block still tears down on exceptions
        for sig in (signal.SIGINT, signal.SIGTERM):
            old = signal.getsignal(sig)
            if old is signal.SIG_IGN:
                continue
            self._old_handlers[sig] = old
            signal.signal(sig, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, old in self._old_handlers.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, old if old is not None else signal.SIG_DFL)
        self._old_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._owner_pid:
            # A forked child (pyroute2 forks one per netns socket and SIGTERMs it when done) inherits this
            # handler; it must die as it would have without us, and never tear down its parent's lab.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if self._tearing_down:
            # Interrupting a teardown (ours, or __exit__'s) would leave namespaces behind: let it finish. A
            # teardown this handler started exits afterwards anyway; any other gets the signal once done.
            if not self._signalled:
                self._pending_signal = signum
            return
        self._signalled = True
        old = self._old_handlers.get(signum, signal.SIG_DFL)
        self.teardown()
        if callable(old):
            old(signum, frame)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            raise SystemExit(128 + signum)

    # ------------------------------------------------------------------ processes
    def _require_active(self) -> None:
        if not self.active:
            raise LabError(f"lab {self.prefix} is not built (use it inside 'with Lab(...)')")

    def exec(
        self, host: str, argv: list[str], *, check: bool = True, timeout: float = 30, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in ``host`` to completion (``input`` on its stdin), capturing text; LabCommandError if
        check and rc != 0."""
        return self._exec(self.netns(host), host, argv, check=check, timeout=timeout, input=input)

    def start(
        self, host: str, argv: list[str], *, name: str | None = None, env: dict[str, str] | None = None
    ) -> LabProcess:
        """Start ``argv`` in ``host`` as a real process; output goes to ``log_dir/<host>.<name>.log``."""
        return self._start(self.netns(host), host, argv, name=name, env=env)

    def recreate_link(self, host: str, ifname: str = "eth0", *, missing_for: float = 0.0) -> int:
        """Delete ``host``'s ``ifname`` veth and create it again: same name, addresses and bridge port, a new
        ifindex and MAC (a hot-plugged NIC, a rebuilt bond, a veth a container runtime recreated).  The
        interface stays missing for ``missing_for`` seconds; returns the new ifindex."""
        self._require_active()
        link = next((lk for lk in self.topology.links if lk.host == host and lk.ifname == ifname), None)
        if link is None:
            raise LabError(f"lab {self.prefix}: host {host!r} has no link {ifname!r}")
        port = self.port_ifname(host, ifname)
        self.exec(host, ["ip", "link", "del", ifname])
        if missing_for > 0:
            time.sleep(missing_for)
        self.exec(host, ["ip", "link", "add", ifname, "type", "veth", "peer", "name", port,
                         "netns", self.switch_netns(link.switch)])
        self.exec(host, ["sysctl", "-qw", f"net/ipv6/conf/{ifname}/accept_dad=0"], check=False)
        for addr in link.addresses:
            nodad = ["nodad"] if ipaddress.ip_interface(addr).version == 6 else []
            self.exec(host, ["ip", "addr", "add", addr, "dev", ifname, *nodad])
        self.exec(host, ["ip", "link", "set", ifname, "up"])
        self.switch_exec(link.switch, ["ip", "link", "set", port, "master", self.bridge_ifname(link.switch), "up"])
        shown = json.loads(self.exec(host, ["ip", "-j", "link", "show", ifname]).stdout)
        return int(shown[0]["ifindex"])

    def switch_exec(
        self, switch: str, argv: list[str], *, check: bool = True, timeout: float = 30, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Like exec(), in the namespace of ``switch`` (its bridge and ports: nft bridge rules, port down)."""
        return self._exec(
            self.switch_namespace(switch), f"switch:{switch}", argv, check=check, timeout=timeout, input=input
        )

    def switch_start(
        self, switch: str, argv: list[str], *, name: str | None = None, env: dict[str, str] | None = None
    ) -> LabProcess:
        """Like start(), in the namespace of ``switch`` (e.g. tcpdump on the bridge)."""
        return self._start(self.switch_namespace(switch), f"switch:{switch}", argv, name=name, env=env)

    def _exec(
        self, ns: str | None, where: str, argv: list[str], *, check: bool, timeout: float, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        self._require_active()
        try:
            cp = subprocess.run(
                netns_argv(ns, argv), capture_output=True, text=True, timeout=timeout, check=False, input=input
            )
        except FileNotFoundError as exc:
            raise LabError(f"cannot run {argv!r} in host {where!r}: {exc}") from None
        if check and cp.returncode != 0:
            raise LabCommandError(where, cp.returncode, list(argv), cp.stdout, cp.stderr)
        return subprocess.CompletedProcess(list(argv), cp.returncode, cp.stdout, cp.stderr)

    def _start(
        self, ns: str | None, where: str, argv: list[str], *, name: str | None, env: dict[str, str] | None
    ) -> LabProcess:
        self._require_active()
        if not argv:
            raise LabError(f"start in host {where!r}: empty argv")
        base = name or Path(argv[0]).name
        n = self._names_used.get((where, base), 0) + 1
        self._names_used[(where, base)] = n
        pname = base if n == 1 else f"{base}-{n}"
        log_path = self.log_dir / f"{where.replace(':', '-')}.{pname}.log"
        proc = LabProcess(name=pname, host=where, netns=ns, argv=argv, log_path=log_path, env=env)
        self.processes.append(proc)
        return proc

    # ------------------------------------------------------------------ info
    def describe(self) -> dict[str, Any]:
        """Names a user needs to poke at the lab by hand (ip netns exec ..., tcpdump on the bridge)."""
        return {
            "prefix": self.prefix,
            "log_dir": str(self.log_dir),
            "hosts": {h: self.netns(h) for h in self.hosts},
            "switches": {
                s.name: {"netns": self.switch_netns(s.name), "bridge": self.bridge_ifname(s.name)}
                for s in self.topology.switches
            },
        }

    def __repr__(self) -> str:
        return f"<Lab {self.prefix} topology={self.topology.name!r} active={self.active}>"
