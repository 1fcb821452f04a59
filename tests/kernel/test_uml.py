"""The UML kernel runner: real IPVS NAT balancing inside the kernel it picks, failures, timeouts, cleanup."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from netns_lab import uml
from netns_lab.uml import KernelRunError, KernelUnavailable, run_in_kernel


def _live_with(marker: str) -> list[psutil.Process]:
    """Live (non-zombie) processes whose command line carries ``marker``."""
    return [
        p
        for p in psutil.process_iter(["cmdline", "status"])
        if p.info["status"] != psutil.STATUS_ZOMBIE and any(marker in a for a in p.info["cmdline"] or [])
    ]


def _live_instances() -> list[psutil.Process]:
    """Live processes started by run_in_kernel calls of this test process."""
    return _live_with(f"netns-lab-uml-{os.getpid()}-")


@pytest.mark.kernel
def test_ipvs_nat_round_robin_splits_tcp_connections_between_two_real_servers() -> None:
    run = run_in_kernel("uml_targets:ipvs_nat_round_robin", {"connections": 200}, timeout=120)
    assert run.kernel.split()[0] in ("host", "uml")
    assert run.returncode == 0
    assert Counter(run.result["seen"]) == {"rs1": 100, "rs2": 100}
    table = run.result["ipvsadm"]
    assert "10.2.0.11:8080" in table and "10.2.0.12:8080" in table
    assert not _live_instances()


@pytest.mark.kernel
def test_failing_target_reports_its_traceback_and_output() -> None:
    with pytest.raises(KernelRunError) as info:
        run_in_kernel("uml_targets:fail_with_traceback", {"n": 7}, timeout=120)
    message = str(info.value)
    assert "ValueError: deliberate failure with payload {'n': 7}" in message
    assert "_nested_failure" in message  # a real traceback, not just the message
    assert "target output before failing" in info.value.output
    assert not _live_instances()


@pytest.mark.kernel
def test_timeout_kills_the_kernel_instance() -> None:
    seen_running: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen_running.extend(p.pid for p in _live_instances())
            stop.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with pytest.raises(KernelRunError, match="timed out after 5s"):
            run_in_kernel("uml_targets:sleep_forever", None, timeout=5)
    finally:
        stop.set()
        watcher.join()
    assert seen_running, "the watcher never saw the instance run, so the check below would prove nothing"
    assert not _live_instances()
    assert not any(Path(tempfile.gettempdir()).glob(f"netns-lab-uml-{os.getpid()}-*")), "temp directory left behind"


@pytest.mark.kernel
def test_system_exit_status_is_returned() -> None:
    run = run_in_kernel("uml_targets:exit_with", 3, timeout=120)
    assert run.returncode == 3
    assert run.result is None


# ---- no kernel needed: argument checking and the missing-package message


def test_missing_uml_names_the_debian_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(uml.KERNEL_ENV, "uml")
    monkeypatch.setattr(uml, "UML_BINARY", tmp_path / "no-linux.uml")
    with pytest.raises(KernelUnavailable, match="user-mode-linux"):
        run_in_kernel("uml_targets:echo", 1)


def test_bad_kernel_choice_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(uml.KERNEL_ENV, "vm")
    with pytest.raises(KernelUnavailable, match="NETNS_LAB_KERNEL='vm'"):
        run_in_kernel("uml_targets:echo", 1)


@pytest.mark.parametrize("target", ["uml_targets", "uml_targets:", ":echo", "uml_targets:not-a-name"])
def test_malformed_target_is_rejected(target: str) -> None:
    with pytest.raises(ValueError, match=r"package\.module:function"):
        run_in_kernel(target)


def test_unserialisable_payload_is_rejected() -> None:
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        run_in_kernel("uml_targets:echo", object())


def test_host_kernel_runs_the_target_in_a_fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(uml.KERNEL_ENV, "host")
    run = run_in_kernel("uml_targets:echo", {"a": [1, 2]}, modules=(), timeout=60)
    assert run.kernel == f"host {os.uname().release}"
    assert run.result["payload"] == {"a": [1, 2]}
    assert run.result["pid"] != os.getpid()


def test_host_kernel_timeout_kills_the_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(uml.KERNEL_ENV, "host")
    with pytest.raises(KernelRunError, match="timed out after 1s"):
        run_in_kernel("uml_targets:sleep_forever", None, modules=(), timeout=1)
    assert not _live_instances()


def test_host_kernel_timeout_lets_the_target_clean_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In the host kernel a target's namespaces outlive it: the timeout's SIGTERM must run its finally blocks."""
    monkeypatch.setenv(uml.KERNEL_ENV, "host")
    done = tmp_path / "done"
    with pytest.raises(KernelRunError, match="timed out after 1s"):
        run_in_kernel("uml_targets:sleep_then_clean_up", {"done": str(done)}, modules=(), timeout=1)
    assert done.read_text() == "cleaned up\n"


@pytest.mark.kernel
def test_ipvs_nat_round_robin_in_a_netns_lab_topology() -> None:
    run = run_in_kernel("uml_targets:lab_ipvs_nat_round_robin", {"connections": 100}, timeout=120)
    assert Counter(run.result["seen"]) == {"rs1": 50, "rs2": 50}
    assert "10.2.0.11:8080" in run.result["ipvsadm"] and "10.2.0.12:8080" in run.result["ipvsadm"]


@pytest.mark.kernel
def test_instance_dies_with_a_killed_caller() -> None:
    """SIGKILL the process that called run_in_kernel: the instance, its helpers and its files still go."""
    code = "import sys; from netns_lab.uml import run_in_kernel; run_in_kernel('uml_targets:sleep_forever')"
    caller = subprocess.Popen(
        [sys.executable, "-c", code], cwd=Path(__file__).parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    marker = f"netns-lab-uml-{caller.pid}-"
    try:
        deadline = time.monotonic() + 60
        # Booted far enough that helper processes exist: the main linux.uml plus at least two forked ones.
        while sum(1 for p in _live_with(marker) if (p.info["cmdline"] or [""])[0].endswith("linux.uml")) < 3:
            assert time.monotonic() < deadline, "the instance never started"
            assert caller.poll() is None, "the caller ended early"
            time.sleep(0.2)
    finally:
        caller.kill()
        caller.wait()
    deadline = time.monotonic() + 10
    while _live_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _live_with(marker)
    assert not any(Path(tempfile.gettempdir()).glob(marker + "*")), "per-call directory left behind"


@pytest.mark.kernel
def test_a_module_that_cannot_load_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(uml.KERNEL_ENV, "uml")
    with pytest.raises(KernelRunError, match=r"loading modules in uml .* failed: .*netns_lab_no_such_module"):
        run_in_kernel("uml_targets:echo", None, modules=("veth", "netns_lab_no_such_module"), timeout=120)
