"""Lab tier: netns_lab builds real namespaces, bridges and veths, runs processes, leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from netns_lab import cleanup
from netns_lab.lab import Lab, LabCommandError, LabError
from netns_lab.process import LabProcess
from netns_lab.topology import Host, Link, Switch, Topology

pytestmark = pytest.mark.lab

PROBE = ["-m", "netns_lab.netprobe"]
PY = sys.executable
REPO = Path(__file__).resolve().parents[2]

THREE = Topology(
    name="three",
    hosts=[Host("a"), Host("b"), Host("c")],
    switches=[Switch("s")],
    links=[
        Link(h, "s", "eth0", [f"10.9.0.{n}/24", f"fd09::{n}/64"]) for n, h in ((1, "a"), (2, "b"), (3, "c"))
    ],
)


def wait_log(proc: LabProcess, text: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in proc.log_text():
        if not proc.running():
            pytest.fail(f"{proc.name} in {proc.host} exited {proc.returncode}: {proc.log_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{proc.name} in {proc.host} never printed {text!r}: {proc.log_text()}")
        time.sleep(0.02)


def root_links() -> set[str]:
    return set(psutil.net_if_addrs())


def run_leftovers(prefix: str, namespaces: list[str], pids: list[int]) -> list[str]:
    """Everything of a run that still exists, as readable strings (empty when the run is fully gone)."""
    found = [f"namespace {n}" for n in namespaces if (cleanup.NETNS_DIR / n).exists()]
    if cleanup.NETNS_DIR.is_dir():
        found += [f"namespace {n}" for n in os.listdir(cleanup.NETNS_DIR) if n.startswith(f"{prefix}-")]
    if (cleanup.STATE_DIR / f"{prefix}.json").exists():
        found.append(f"state file {prefix}")
    deadline = time.monotonic() + 3
    alive = [p for p in pids if _alive(p)]
    while alive and time.monotonic() < deadline:  # init reaps orphans asynchronously
        time.sleep(0.02)
        alive = [p for p in alive if _alive(p)]
    found += [f"process {p}" for p in alive]
    return sorted(set(found))


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


# --------------------------------------------------------------------------- connectivity
def test_three_hosts_tcp_and_udp_multicast(lab_factory: Callable[..., Lab]) -> None:
    lab = lab_factory(THREE)
    # IPv6 addresses are usable at once: DAD is off, so nothing is tentative.
    out = lab.exec("a", ["ip", "-6", "addr", "show", "tentative"]).stdout
    assert out.strip() == "", out

    server = lab.start("b", [PY, *PROBE, "tcp-server", "7001"])
    wait_log(server, "ready")
    for addr in ("10.9.0.2", "fd09::2"):
        res = lab.exec("a", [PY, *PROBE, "tcp-client", addr, "7001", f"hi-{addr}"], timeout=10)
        assert res.stdout.strip() == f"echo:hi-{addr}"
    assert "served ::ffff:10.9.0.1" in server.log_text() and "served fd09::1" in server.log_text()

    for group, sender in (("239.9.9.9", "10.9.0.1"), ("ff02::12", "fe80::")):
        receivers = [
            lab.start(h, [PY, *PROBE, "mcast-recv", group, "eth0", "7002"], name=f"recv-{group}") for h in "bc"
        ]
        for r in receivers:
            wait_log(r, "ready")
        send = lab.start("a", [PY, *PROBE, "mcast-send", group, "eth0", "7002", "hello"])
        for r in receivers:
            assert r.wait(10) == 0, r.log_text()
            assert "got hello from " + sender in r.log_text()
        send.kill()
        assert send.wait(5) is not None


def test_routes_and_sysctls_make_a_router(lab_factory: Callable[..., Lab]) -> None:
    """Two switches joined by a router host with ip_forward=1; the hosts reach each other through routes."""
    topo = Topology.from_dict(
        {
            "name": "routed",
            "hosts": [
                {
                    "name": "left",
                    "routes": [
                        {"dst": "10.2.0.0/24", "gateway": "10.1.0.1"},
                        {"dst": "default", "gateway": "fd01::1"},
                    ],
                },
                {
                    "name": "router",
                    "sysctls": {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"},
                },
                {
                    "name": "right",
                    "routes": [
                        {"dst": "default", "gateway": "10.2.0.1"},
                        {"dst": "fd01::/64", "gateway": "fd02::1"},
                    ],
                },
            ],
            "switches": ["s1", "s2"],
            "links": [
                {"host": "left", "switch": "s1", "addresses": ["10.1.0.2/24", "fd01::2/64"]},
                {
                    "host": "router",
                    "switch": "s1",
                    "ifname": "up0",
                    "addresses": ["10.1.0.1/24", "fd01::1/64"],
                },
                {
                    "host": "router",
                    "switch": "s2",
                    "ifname": "down0",
                    "addresses": ["10.2.0.1/24", "fd02::1/64"],
                },
                {"host": "right", "switch": "s2", "addresses": ["10.2.0.2/24", "fd02::2/64"]},
            ],
        }
    )
    root_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    lab = lab_factory(topo)
    server = lab.start("right", [PY, *PROBE, "tcp-server", "7003"])
    wait_log(server, "ready")
    for addr in ("10.2.0.2", "fd02::2"):
        assert (
            lab.exec("left", [PY, *PROBE, "tcp-client", addr, "7003", "x"], timeout=10).stdout.strip()
            == "echo:x"
        )
    assert lab.exec("router", ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "1"
    assert (
        Path("/proc/sys/net/ipv4/ip_forward").read_text() == root_forward
    )  # the host's sysctl stayed inside
    assert lab.port_ifname("router", "down0") == "router.down0"
    # A bridge port for every link, enslaved to the bridge, in the switch namespace.
    links = lab.switch_exec("s2", ["ip", "-o", "link", "show", "master", lab.bridge_ifname("s2")]).stdout
    assert "router.down0" in links and "right.eth0" in links and "left.eth0" not in links
    # Taking a bridge port down (a partition at the switch) cuts the host off; up again, it is back.
    lab.switch_exec("s2", ["ip", "link", "set", "right.eth0", "down"])
    cut = lab.exec("left", [PY, *PROBE, "tcp-client", "10.2.0.2", "7003", "x", "0.5"], check=False)
    assert cut.returncode != 0 and "timed out" in cut.stderr
    lab.switch_exec("s2", ["ip", "link", "set", "right.eth0", "up"])
    back = lab.exec("left", [PY, *PROBE, "tcp-client", "10.2.0.2", "7003", "y"], timeout=10)
    assert back.stdout.strip() == "echo:y"
    watcher = lab.switch_start("s2", ["sleep", "300"], name="watch")
    assert watcher.host == "switch:s2" and watcher.log_path.name == "switch-s2.watch.log"


def test_bad_sysctl_fails_build_clearly_and_leaves_nothing() -> None:
    topo = Topology(
        "badsys", [Host("a", sysctls={"net.ipv4.no_such_thing": "1"})], [Switch("s")], [Link("a", "s")]
    )
    lab = Lab(topo)
    with pytest.raises(LabError) as err, lab:
        pass
    msg = str(err.value)
    assert "host 'a'" in msg and "net.ipv4.no_such_thing" in msg and "Traceback" not in msg
    assert run_leftovers(lab.prefix, lab.namespaces(), []) == []


# --------------------------------------------------------------------------- teardown
def test_teardown_leaves_no_namespace_link_or_process() -> None:
    before = root_links()
    with Lab(THREE) as lab:
        procs = [lab.start(h, ["sleep", "300"]) for h in ("a", "b", "c")]
        paused = lab.start("a", ["sleep", "300"], name="paused")
        paused.pause()
        # a grandchild that escaped its session: found through its namespace, not through our pid list
        lab.exec("b", ["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 < /dev/null &"])
        deadline = time.monotonic() + 5  # `ip netns exec` enters the namespace a moment after Popen returns
        while len(inside := list(cleanup.netns_pids(lab.namespaces()))) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(inside) == 5
        prefix, names = lab.prefix, lab.namespaces()
        assert all((cleanup.NETNS_DIR / n).exists() for n in names)
        assert (cleanup.STATE_DIR / f"{prefix}.json").exists()
        assert not (root_links() - before), "the lab must not create links in the root namespace"
    assert run_leftovers(prefix, names, inside) == []
    assert all(p.returncode is not None for p in [*procs, paused])
    assert root_links() == before


def test_teardown_when_the_body_raises() -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), Lab(THREE) as lab:
        proc = lab.start("c", ["sleep", "300"])
        prefix, names = lab.prefix, lab.namespaces()
        raise Boom
    assert run_leftovers(prefix, names, [proc.pid]) == []


def test_a_signal_during_teardown_waits_for_it_to_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM arriving mid-teardown (a second Ctrl-C, a supervisor's TERM after the group's) must not cut the
    teardown short; it takes effect once everything is gone."""

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    lab = Lab(THREE)
    try:
        lab.__enter__()
        lab.start("a", ["sleep", "300"])
        real_remove = cleanup.remove_netns

        def remove_after_a_signal(names: list[str]) -> list[str]:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, in the middle of the teardown
            return real_remove(names)

        monkeypatch.setattr(cleanup, "remove_netns", remove_after_a_signal)
        with pytest.raises(SystemExit) as info:
            lab.teardown()
        assert info.value.code == 128 + signal.SIGTERM  # the signal still acted, after the teardown
        assert run_leftovers(lab.prefix, lab.namespaces(), [p.pid for p in lab.processes]) == []
    finally:
        signal.signal(signal.SIGTERM, previous)
        monkeypatch.undo()
        cleanup.remove_netns(lab.namespaces())
        (cleanup.STATE_DIR / f"{lab.prefix}.json").unlink(missing_ok=True)


HOLDER = """
import json, os, signal, sys, time
from pathlib import Path
from netns_lab.lab import Lab
from netns_lab.topology import Topology
topo = Topology.from_dict(json.loads(sys.argv[1]))
with Lab(topo, log_dir=Path(sys.argv[2])) as lab:
    p = lab.start("a", ["sleep", "300"])
    print(json.dumps({"prefix": lab.prefix, "pid": p.pid, "namespaces": lab.namespaces()}), flush=True)
    if sys.argv[3] == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)
print("clean exit", flush=True)
"""


Holder = Callable[[str], tuple[subprocess.Popen[str], dict[str, object]]]


@pytest.fixture
def start_holder(tmp_path: Path) -> Iterator[Holder]:
    """``start(mode) -> (process, info)``: a lab held by another process. Whatever the test does, the holders
    are killed and their runs cleaned afterwards, so a failing assertion never leaves namespaces behind."""
    started: list[tuple[subprocess.Popen[str], dict[str, object]]] = []

    def start(mode: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
        proc, info = _start_holder(tmp_path, mode)
        started.append((proc, info))
        return proc, info

    try:
        yield start
    finally:
        for proc, info in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            cleanup.clean([str(info["prefix"])])


def _start_holder(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], dict[str, object]]:
    proc = subprocess.Popen(
        [PY, "-c", HOLDER, json.dumps(THREE.to_dict()), str(tmp_path / "logs"), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        pytest.fail(f"lab holder failed: {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_to_the_lab_holder_tears_down(start_holder: Holder, sig: int) -> None:
    proc, info = start_holder("hold")
    names = list(info["namespaces"])  # type: ignore[call-overload]
    assert all((cleanup.NETNS_DIR / n).exists() for n in names)
    proc.send_signal(sig)
    rc = proc.wait(15)
    # the signal still ends the program: SystemExit(143), or KeyboardInterrupt (Python then dies of SIGINT)
    assert rc == (143 if sig == signal.SIGTERM else -signal.SIGINT)
    assert "clean exit" not in (proc.stdout.read() if proc.stdout else "")
    assert run_leftovers(str(info["prefix"]), names, [int(info["pid"])]) == []  # type: ignore[call-overload]


def test_clean_removes_dead_run_and_keeps_live_run(start_holder: Holder) -> None:
    dead_proc, dead = start_holder("die")
    assert dead_proc.wait(15) == -signal.SIGKILL
    dead_names = list(dead["namespaces"])  # type: ignore[call-overload]
    dead_prefix, dead_pid = str(dead["prefix"]), int(dead["pid"])  # type: ignore[call-overload]
    # SIGKILL left everything behind: namespaces, the state file and the process inside.
    assert all((cleanup.NETNS_DIR / n).exists() for n in dead_names)
    assert _alive(dead_pid)
    with Lab(THREE) as live:
        live_proc = live.start("a", ["sleep", "300"])
        out = subprocess.run(
            [PY, "-m", "netns_lab.cli", "clean", "--prefix", dead_prefix, "--prefix", live.prefix],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        assert f"removed dead run {dead_prefix}" in out.stdout
        assert f"kept live run {live.prefix}" in out.stdout
        assert run_leftovers(dead_prefix, dead_names, [dead_pid]) == []
        # the live run is intact and still works
        assert live_proc.running()
        assert all((cleanup.NETNS_DIR / n).exists() for n in live.namespaces())
        assert live.exec("b", ["ip", "-br", "addr", "show", "eth0"]).stdout.count("10.9.0.2/24") == 1


# --------------------------------------------------------------------------- processes
def test_process_runner_signals_wait_and_logs(lab: Lab) -> None:
    p = lab.start("lb1", ["sh", "-c", "echo started; echo oops >&2; exec sleep 300"], name="sleeper")
    wait_log(p, "oops")
    assert p.log_path == lab.log_dir / "lb1.sleeper.log"
    assert "started" in p.log_text()
    assert p.wait(0.1) is None and p.running() and p.returncode is None
    p.pause()
    time.sleep(0.1)
    assert psutil.Process(p.pid).status() == psutil.STATUS_STOPPED
    p.resume()
    time.sleep(0.1)
    assert psutil.Process(p.pid).status() != psutil.STATUS_STOPPED
    assert p.stop(timeout=2) == -signal.SIGTERM
    assert not p.running()

    ignore_term = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ar' + 'med', flush=True); time.sleep(300)"
    )
    stubborn = lab.start("lb2", [PY, "-c", ignore_term])
    wait_log(stubborn, "armed")
    t0 = time.monotonic()
    assert stubborn.stop(timeout=0.3) == -signal.SIGKILL
    assert time.monotonic() - t0 < 3

    k = lab.start("rs1", ["sleep", "300"])
    k.kill()
    assert k.wait(5) == -signal.SIGKILL
    assert lab.start("rs1", ["sleep", "300"]).name == "sleep-2"  # per-host names stay unique

    done = lab.start("rs2", ["sh", "-c", "exit 3"])
    assert done.wait(5) == 3

    # each host really is its own namespace with its own address
    assert "10.0.0.21/24" in lab.exec("rs1", ["ip", "-br", "addr"]).stdout
    with pytest.raises(LabCommandError, match=r"in host 'rs2' exited 1: .*nope"):
        lab.exec("rs2", ["sh", "-c", "echo nope >&2; exit 1"])
    assert lab.exec("rs2", ["false"], check=False).returncode == 1
    with pytest.raises(LabError, match="no host 'nosuch'"):
        lab.start("nosuch", ["true"])


@pytest.mark.netns_topology(
    {"name": "tiny", "hosts": ["x"], "switches": ["sw"], "links": [{"host": "x", "switch": "sw"}]}
)
def test_fixture_marker_selects_topology(lab: Lab) -> None:
    assert lab.hosts == ["x"]
    assert lab.netns("x") == f"{lab.prefix}-x"
    assert lab.bridge_ifname("sw").startswith(lab.prefix)
    assert (cleanup.NETNS_DIR / lab.switch_netns("sw")).exists()


def test_a_taken_prefix_is_refused_and_the_other_run_is_untouched(lab_factory: Callable[..., Lab]) -> None:
    first = lab_factory(THREE)
    with pytest.raises(LabError, match="exist; use another prefix"), Lab(THREE, prefix=first.prefix):
        pass
    assert all((cleanup.NETNS_DIR / n).exists() for n in first.namespaces())
    assert (cleanup.STATE_DIR / f"{first.prefix}.json").exists()
    assert "10.9.0.3/24" in first.exec("c", ["ip", "-br", "addr"]).stdout
    with pytest.raises(LabError, match="bad prefix 'Bad!'"):
        Lab(THREE, prefix="Bad!")


def test_forked_children_never_tear_down_the_parents_lab(lab_factory: Callable[..., Lab]) -> None:
    """pyroute2 forks a child per netns socket and SIGTERMs it: the inherited handler must not tear down."""
    from pyroute2 import IPRoute

    lab = lab_factory(THREE)
    pid = os.fork()
    if pid == 0:  # a forked child that gets SIGTERM while the parent's Lab handler is installed
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            os._exit(7)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM  # died as if we were not there
    for _ in range(3):
        with IPRoute(netns=lab.netns("a"), flags=0) as ipr:
            assert ipr.link_lookup(ifname="eth0")
    assert lab.active
    assert all((cleanup.NETNS_DIR / n).exists() for n in lab.namespaces())
    p = lab.start("a", ["sleep", "300"])
    assert psutil.Process(p.pid).cmdline() == ["sleep", "300"]  # start() returns after the exec
