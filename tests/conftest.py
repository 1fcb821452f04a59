"""Test tiers (README "Test tiers"): a tier whose needs are missing is skipped with a reason that says what to install.

In CI (``CI=true``) a missing need is an error instead of a skip: the lab, kernel and interop tiers must run there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["netns_lab.fixtures"]

# Hypothesis profiles: tests that set no example count take it from here. "ci" (the default) keeps the suite
# bounded; "soak" is the long fuzzing campaign (tests/property/test_config_grammar_fuzz.py):
#   pytest tests/property --hypothesis-profile soak     or     HYPOTHESIS_PROFILE=soak pytest tests/property
# (HYPOTHESIS_SOAK_EXAMPLES sets its example count, 20,000 by default; the lab's drawn fault schedules take
# netns_lab.schedules.SOAK_EXAMPLES of them, each a real run: netns_lab.schedules.lab_examples)
settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile("soak", max_examples=int(os.environ.get("HYPOTHESIS_SOAK_EXAMPLES", "20000")), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_TIER_NEEDS: dict[str, tuple[str, ...]] = {
    "lab": ("root",),
    "kernel": ("root", "ipvs"),
    "interop": ("root", "keepalived"),
}


def _missing(need: str) -> str | None:
    """Return why ``need`` is not met, naming what to install, or None when it is met."""
    if need == "root":
        if os.geteuid() != 0 or not Path("/proc/self/ns/net").exists():
            return "needs root and Linux network namespaces (run the tests as root)"
        return None
    if need == "ipvs":
        if Path("/proc/net/ip_vs").exists() or shutil.which("linux.uml"):
            return None
        return "needs kernel IPVS or User-Mode Linux (apt-get install user-mode-linux; bash bootstrap.sh does it)"
    if need == "keepalived":
        if shutil.which("keepalived") or Path("/usr/sbin/keepalived").exists():
            return None
        return "needs Debian's keepalived (apt-get install keepalived; bash bootstrap.sh does it)"
    raise ValueError(need)


def pytest_runtest_setup(item: pytest.Item) -> None:
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    for tier, needs in _TIER_NEEDS.items():
        if item.get_closest_marker(tier) is None:
            continue
        for need in needs:
            why = _missing(need)
            if why is None:
                continue
            if in_ci:
                pytest.fail(f"CI must run the {tier} tier, but it {why}", pytrace=False)
            pytest.skip(f"{tier} tier {why}")


# Runs made by `netns-lab run` (and the demo) keep their logs in the default log root for the user, and the tests
# run the CLI as a user does. The session removes the ones it made once it passed (a failed session keeps them,
# with the failures' log paths pointing into them). Only the controlling process does it (xdist's workers share
# the machine's /tmp), and never for a run that is still live (its state file still exists).
_LAB_LOG_ROOT = Path(tempfile.gettempdir()) / "netns_lab"
_logs_before: set[str] = set()


def _is_worker(session: pytest.Session) -> bool:
    return hasattr(session.config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    if not _is_worker(session) and _LAB_LOG_ROOT.is_dir():
        _logs_before.update(os.listdir(_LAB_LOG_ROOT))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_worker(session) or exitstatus != 0 or not _LAB_LOG_ROOT.is_dir():
        return
    from netns_lab.cleanup import STATE_DIR

    for name in set(os.listdir(_LAB_LOG_ROOT)) - _logs_before:
        if not (STATE_DIR / f"{name}.json").exists():
            shutil.rmtree(_LAB_LOG_ROOT / name, ignore_errors=True)
    if not _logs_before:
        with contextlib.suppress(OSError):
            _LAB_LOG_ROOT.rmdir()
