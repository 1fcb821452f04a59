"""``netns-lab run --kernel uml``: a whole scenario run inside one User-Mode Linux instance.

The host kernel of many CI machines has no IPVS, so a scenario with directors (virtual servers in the routers'
configs) runs in a kernel that has it: one UML instance boots (:func:`netns_lab.uml.run_in_kernel`, hostfs root,
so this project and its venv are there unchanged) and runs the ordinary runner inside with ``--kernel host``.
Everything of the run lives in the guest's namespaces and dies with the instance.

What crosses the boundary is files on the host filesystem, in the run's log directory: the guest appends its
progress lines to ``progress.log`` (this side prints them as they come, so a long run still shows each phase
and fault), writes the daemons' and clients' logs there, and returns the history, the check context and the
verdicts as JSON (``netns_lab.runner:guest_run``), from which :mod:`netns_lab.runner` makes an ordinary
``RunResult`` and draws the timeline (matplotlib is quicker on this side). The LVS side of the scenario
(``pykeepalived -d`` of each director's config) is read on this side too, before the boot, for the same reason.

Ctrl-C and SIGTERM end the instance (the runner of :mod:`netns_lab.uml` kills its process group), and if this
process dies outright its supervisor does; nothing of the run survives but its log directory.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from netns_lab.scenario import Scenario
from netns_lab.uml import KernelRunError, KernelUnavailable, guest_path, run_in_kernel

__all__ = ["GuestRun", "UmlRunError", "run_in_uml"]

#: guest memory: two directors' daemons, real servers, clients and the runner are a dozen interpreters
UML_MEM = "1G"
#: the boot, the daemons' start in the guest and the teardown, on top of the scenario's own time
OVERHEAD_S = 240.0


def _to_host(text: str) -> str:
    return text.replace(str(guest_path("/tmp")), "/tmp")


class _Tail:
    """Copy the lines the guest appends to ``path`` to ``out`` while the instance runs (a thread)."""

    def __init__(self, path: Path, out: TextIO | None) -> None:
        self.path = path
        self.out = out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netns-lab-uml-progress", daemon=True)
        self._pos = 0

    def _drain(self) -> None:
        try:
            with self.path.open() as f:
                f.seek(self._pos)
                chunk = f.read()
        except OSError:
            return
        done = chunk.rfind("\n") + 1  # whole lines only
        if done and self.out is not None:
            for line in chunk[:done].splitlines():
                self.out.write(f"  uml {_to_host(line)}\n")
            self.out.flush()
        self._pos += len(chunk[:done].encode())

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._drain()

    def __enter__(self) -> _Tail:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._drain()


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises SystemExit in the main thread, so the instance is killed on the way out (Ctrl-C already
    raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


class UmlRunError(RuntimeError):
    """The run inside User-Mode Linux could not happen or failed; the message says why (host paths)."""


@dataclass(frozen=True)
class GuestRun:
    """What the guest's runner returned (``data``: history, context, verdicts as JSON), the kernel it ran on
    and the run's log directory on the host."""

    kernel: str
    data: dict[str, Any]
    log_dir: Path


def run_in_uml(
    scenario: Scenario,
    *,
    impl: str,
    seed: int | None,
    out: TextIO | None,
    log_dir: Path | None,
    lvs: dict[str, Any],
) -> GuestRun:
    """Run ``scenario`` inside one User-Mode Linux instance (the guest calls ``netns_lab.runner:guest_run``)."""
    try:
        text = Path(scenario.path).read_text()
    except OSError as exc:
        raise UmlRunError(f"{scenario.path}: --kernel uml runs a scenario file, which cannot be read: {exc}") from None
    base = Path(log_dir) if log_dir else Path(tempfile.gettempdir()) / "netns_lab" / f"uml-{secrets.token_hex(3)}"
    base.mkdir(parents=True, exist_ok=True)
    progress = base / "progress.log"
    progress.write_text("")
    try:
        payload = {
            "text": text,
            "path": str(guest_path(Path(scenario.path).resolve())),
            "impl": impl,
            "seed": seed,
            "log_dir": str(guest_path(base)),
            "lvs": lvs,
            "progress": str(guest_path(progress)),
        }
    except ValueError as exc:
        raise UmlRunError(f"--kernel uml: {exc}") from None
    t0 = time.time()
    if out is not None:
        out.write(f"[{0:7.2f}s] booting User-Mode Linux for {scenario.name} ({impl}); logs in {base}\n")
        out.flush()
    timeout = scenario.duration + scenario.last_fault_at + OVERHEAD_S
    try:
        with _sigterm_unwinds(), _Tail(progress, out):
            run = run_in_kernel("netns_lab.runner:guest_run", payload, timeout=timeout, force="uml", mem=UML_MEM)
    except (KernelRunError, KernelUnavailable) as exc:
        raise UmlRunError(_to_host(str(exc))) from None
    data = run.result
    if not isinstance(data, dict):
        raise UmlRunError(f"the run in {run.kernel} ended (status {run.returncode}) without a result:\n"
                          f"{run.output[-2000:]}")
    if "error" in data:
        raise UmlRunError(_to_host(str(data["error"])))
    if out is not None:
        out.write(f"[{time.time() - t0:7.2f}s] {run.kernel} powered off\n")
        out.flush()
    return GuestRun(run.kernel, data, base)
