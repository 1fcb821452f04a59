"""keepalived's signal functions: names, numbers and the files they write (keepalived 2.2.7, lib/signals.c)."""

from __future__ import annotations

import signal

import pytest

from pykeepalived.daemon.signals import SIGNALS, SigFunc, UnknownSigFunc, names, signum, spec_for


def test_names_in_keepalived_help_order() -> None:
    assert names() == ("STOP", "RELOAD", "DATA", "STATS", "STATS_CLEAR", "JSON")


def test_numbers_are_keepalived_definitions() -> None:
    assert signum("STOP") == signal.SIGTERM
    assert signum("RELOAD") == signal.SIGHUP
    assert signum("DATA") == signal.SIGUSR1
    assert signum("STATS") == signal.SIGUSR2
    assert signum("JSON") == signal.SIGRTMIN + 2
    assert signum("STATS_CLEAR") == signal.SIGRTMAX - 1


def test_numbers_are_distinct_and_map_back() -> None:
    assert len({s.signum for s in SIGNALS}) == len(SIGNALS)
    for spec in SIGNALS:
        assert spec_for(spec.signum) is spec
    assert spec_for(int(signal.SIGWINCH)) is None


def test_dump_files_per_signal() -> None:
    files = {s.func: s.dump_file for s in SIGNALS}
    assert files[SigFunc.DATA] == "keepalived.data"
    assert files[SigFunc.STATS] == files[SigFunc.STATS_CLEAR] == "keepalived.stats"
    assert files[SigFunc.JSON] == "keepalived.json"
    assert files[SigFunc.STOP] is files[SigFunc.RELOAD] is None


@pytest.mark.parametrize("name", ["TDUMP", "stop", "", "HUP"])
def test_unknown_names_are_refused_in_keepalived_words(name: str) -> None:
    with pytest.raises(UnknownSigFunc, match=f"^Unknown sigfunc {name}$"):
        signum(name)
