"""keepalived 2.2.7's command line, flag by flag: every flag of ``keepalived --help`` is in ours, each is honoured
or refused with a message naming it (never silently ignored), and where it is cheap (config test, ``--signum``,
usage errors) our exit status is compared with the installed keepalived's."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pykeepalived.cli import FLAGS, build_parser, main

KEEPALIVED = "/usr/sbin/keepalived"
have_keepalived = pytest.mark.skipif(shutil.which(KEEPALIVED) is None, reason="keepalived 2.2.7 not installed")
CONF = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n" \
       "  virtual_ipaddress {\n    10.9.9.9/32\n  }\n}\n"

#: flag -> what ours does with it.  "refused": exit 1 with "option X is not supported: why".
TABLE: dict[str, str] = {
    "-f": "honoured", "-P": "honoured", "-C": "honoured", "-B": "honoured (no BFD subsystem)",
    "--all": "honoured", "-l": "honoured (console and syslog)", "-D": "honoured", "-S": "honoured",
    "-G": "honoured", "-u": "honoured", "-X": "refused", "-V": "refused", "-I": "honoured", "-R": "honoured",
    "-n": "honoured", "-d": "honoured (logs the config; with -t prints JSON)", "-p": "honoured",
    "-r": "honoured", "-T": "honoured (genhash)", "-c": "honoured", "-a": "refused",
    "-b": "honoured (no BFD child: never written)", "-x": "refused", "-A": "refused", "-s": "honoured",
    "-m": "honoured", "-M": "refused", "-e": "refused", "-i": "honoured", "--signum": "honoured",
    "-t": "honoured", "-v": "honoured", "-h": "honoured",
    # not in Debian's build (needs --enable-log-file) but in keepalived's manual: ours honours them
    "-g": "honoured", "--flush-log-file": "honoured",
}


def _ka_help() -> str:
    cp = subprocess.run([KEEPALIVED, "--help"], capture_output=True, text=True, timeout=10, check=False)
    return cp.stdout + cp.stderr


@have_keepalived
def test_every_keepalived_flag_is_in_our_help_and_in_the_table() -> None:
    ours = build_parser().format_help()
    ka = _ka_help()
    longs = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", ka, re.M))
    shorts = set(re.findall(r"^\s+(-\w),", ka, re.M))
    assert len(longs) >= 30, ka
    for flag in sorted(longs | shorts):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", ours), f"{flag} missing from our --help"
    assert shorts | {"--all", "--signum"} <= set(TABLE), shorts - set(TABLE)


def test_refused_flags_say_so_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    refused = {f.short or f.long: f for f in FLAGS if f.refused}
    assert set(refused) == {k for k, v in TABLE.items() if v == "refused"}
    for name, flag in refused.items():
        argv = ["-t", "-f", str(conf), name, *(["X"] if flag.metavar else [])]
        assert main(argv) == 1, name
        err = capsys.readouterr().err
        assert f"option {flag.names} is not supported: {flag.refused}" in err, err
        assert "Traceback" not in err


@have_keepalived
@pytest.mark.parametrize("name", ["STOP", "RELOAD", "DATA", "STATS", "STATS_CLEAR", "JSON", "TDUMP", "stop"])
def test_signum_prints_keepalived_numbers(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    ka = subprocess.run([KEEPALIVED, f"--signum={name}"], capture_output=True, text=True, timeout=10, check=False)
    assert main([f"--signum={name}"]) == ka.returncode
    out = capsys.readouterr()
    assert out.out == ka.stdout and out.err.strip() == ka.stderr.strip()


def _both(argv: list[str], tmp_path: Path) -> tuple[int, int]:
    ka = subprocess.run([KEEPALIVED, *argv], capture_output=True, text=True, timeout=30, check=False,
                        cwd=tmp_path)
    ours = subprocess.run([sys.executable, "-m", "pykeepalived", *argv], capture_output=True, text=True,
                          timeout=30, check=False, cwd=tmp_path)
    assert "Traceback" not in ours.stderr, ours.stderr
    return ka.returncode, ours.returncode


@have_keepalived
@pytest.mark.parametrize("argv", [
    ["-t"],
    ["-t", "-P", "-C", "-p", "m.pid", "-r", "v.pid", "-c", "c.pid", "-n", "-l", "-D", "-R", "-I", "-G"],
    ["-t", "-s", "nosuchns", "-u", "022", "-m", "-B", "--all"],
    ["-t", "-S", "2"], ["-t", "-S", "9"], ["-t", "-S", "foo"], ["-t", "-u", "abc"],
    ["-tlog.txt"], ["--config-test=log.txt"], ["-t", "stray"],
    ["--no-such-flag"], ["-T"], ["--signum"],
], ids=lambda a: " ".join(a))
def test_config_test_and_usage_statuses_match_keepalived(argv: list[str], tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    for f in (["-f", str(conf)], ["-f", str(tmp_path / "missing.conf")]):
        full = argv + f if argv[0].startswith("-t") or argv[0].startswith("--config") else argv
        ka, ours = _both(full, tmp_path)
        assert ours == ka, (full, ka, ours)


@have_keepalived
def test_facility_names_honoured_where_keepalived_2_2_7_rejects_them(tmp_path: Path) -> None:
    """keepalived's --help offers local[0-7]|user|daemon but 2.2.7's parser takes numbers only ("invalid number
    'local2'", status 5 under -t): a known difference, ours takes what the help promises."""
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    for name in ("local2", "user", "daemon"):
        assert _both(["-t", "-S", name, "-f", str(conf)], tmp_path) == (5, 0)


def test_t_log_file_only_attached(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "k.conf"
    f.write_text("bogus\n")
    assert main(["-t", str(tmp_path / "log"), "-f", str(f)]) == 5  # getopt: not -t's argument
    assert f"Unexpected argument(s): {tmp_path / 'log'}" in capsys.readouterr().err
    assert not (tmp_path / "log").exists()
    assert main([f"-t{tmp_path / 'log'}", "-f", str(f)]) == 5
    assert "Unknown keyword 'bogus'" in (tmp_path / "log").read_text()


def test_genhash_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-T", "-h"]) in (0, 1)
    out = capsys.readouterr()
    assert "-u" in out.out + out.err and "Traceback" not in out.err
    assert main(["-f", "x", "-T"]) == 1
    assert "-T/--genhash must be the first option" in capsys.readouterr().err


# ----------------------------------------------------------------- --metrics-listen (ours; keepalived has none)


def _daemon_options_of(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[object]]:
    """Run ``main`` up to the hand-off to the daemon and return its status and the options it would have run."""
    import pykeepalived.daemon

    seen: list[object] = []
    monkeypatch.setattr(pykeepalived.daemon, "run_daemon", lambda options: seen.append(options) or 0)
    return main(argv), seen


def test_metrics_listen_reaches_the_daemon_and_its_children(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses
    import json

    from pykeepalived.daemon.options import DaemonOptions

    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    monkeypatch.delenv("PYKEEPALIVED_METRICS_LISTEN", raising=False)
    assert "--metrics-listen HOST:PORT" in build_parser().format_help()
    status, seen = _daemon_options_of(["-f", str(conf), "--metrics-listen=[::1]:9651"], monkeypatch)
    assert status == 0 and len(seen) == 1
    options = seen[0]
    assert isinstance(options, DaemonOptions) and options.metrics_listen == "[::1]:9651"
    # the watchdog hands the children its options as JSON (pykeepalived.daemon.watchdog / child)
    assert DaemonOptions(**json.loads(json.dumps(dataclasses.asdict(options)))) == options
    status, seen = _daemon_options_of(["-f", str(conf)], monkeypatch)
    assert status == 0 and seen[0].metrics_listen is None  # type: ignore[attr-defined]
    # the environment variable is the alternative; the flag wins over it
    monkeypatch.setenv("PYKEEPALIVED_METRICS_LISTEN", "127.0.0.1:9652")
    status, seen = _daemon_options_of(["-f", str(conf)], monkeypatch)
    assert seen[0].metrics_listen == "127.0.0.1:9652"  # type: ignore[attr-defined]
    status, seen = _daemon_options_of(["-f", str(conf), "--metrics-listen", ":9653"], monkeypatch)
    assert seen[0].metrics_listen == ":9653"  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["localhost:9650", "127.0.0.1:99999", "127.0.0.1:x", "[::1", "1.2.3.4:5:6", ""])
def test_a_bad_metrics_listen_is_refused_before_anything_runs(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)
    monkeypatch.delenv("PYKEEPALIVED_METRICS_LISTEN", raising=False)
    for argv in (["-f", str(conf), f"--metrics-listen={value}"], ["-t", "-f", str(conf), f"--metrics-listen={value}"]):
        status, seen = _daemon_options_of(argv, monkeypatch)
        err = capsys.readouterr().err
        assert status == 1 and seen == [], argv
        assert f"pykeepalived: --metrics-listen: metrics address {value!r}: expected" in err and "Traceback" not in err
    if value:  # an empty variable is "not set"
        monkeypatch.setenv("PYKEEPALIVED_METRICS_LISTEN", value)
        status, seen = _daemon_options_of(["-f", str(conf)], monkeypatch)
        assert status == 1 and seen == []
        assert f"pykeepalived: PYKEEPALIVED_METRICS_LISTEN: metrics address {value!r}" in capsys.readouterr().err
