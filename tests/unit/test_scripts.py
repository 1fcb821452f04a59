"""vrrp.io.scripts: keepalived's argv split, running scripts (timeouts, groups, users), script security."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrrp.io.scripts import (
    Script,
    ScriptError,
    ScriptResult,
    ScriptSecurityError,
    ScriptUser,
    check_script_secure,
    default_script_user,
    ensure_script_secure,
    join_words,
    parse_script,
    parse_script_line,
    resolve_user,
    run_script,
    split_words,
)

ROOT = ScriptUser(0, 0, "root")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (changes owners / runs as another user)")

# Every wait in these tests is bounded; this only turns an unexpected hang into a traceback, fast.
pytestmark = pytest.mark.timeout(60)


def _script(path: Path, body: str, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(mode)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is dead for our purpose
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------ splitting


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("pidof haproxy", ["pidof", "haproxy"]),
        ("  a \t b  ", ["a", "b"]),
        ('"/opt/my script.sh" x', ["/opt/my script.sh", "x"]),
        ('abcd" efg h jkl "mnop', ["abcd efg h jkl mnop"]),  # man5: quoted+unquoted concatenate
        ("'a \"b\" c'", ['a "b" c']),  # double quotes are literal inside single quotes
        ('"it\'s"', ["it's"]),
        (r"a\ b", ["a b"]),  # an escaped space does not split
        (r"\t\n\a\b\f\r\v\E", ["\t\n\a\b\f\r\v\x1b"]),
        (r"\x41\x4a", ["AJ"]),
        (r"\101\60", ["A0"]),
        (r"\cA\cz", ["\x01\x1a"]),
        (r'"\"quoted\""', ['"quoted"']),  # backslash works inside double quotes ...
        (r"'\x41'", ["A"]),  # ... and inside single quotes (keepalived, unlike sh)
        (r"\q", ["q"]),  # unknown escape: the character itself
        ("$(touch /tmp/x) `id` ; rm", ["$(touch", "/tmp/x)", "`id`", ";", "rm"]),  # no shell meaning
        ('""', [""]),
        ("", []),
    ],
)
def test_split_words_follows_keepalived_quoting(text: str, words: list[str]) -> None:
    assert split_words(text) == words


@given(st.text())
def test_split_words_raises_only_script_error(text: str) -> None:
    try:
        words = split_words(text)
    except ScriptError:
        return
    assert all(isinstance(w, str) for w in words)


@given(st.lists(st.text()))
def test_join_words_is_the_inverse_of_split_words(argv: list[str]) -> None:
    assert split_words(join_words(argv)) == argv


def test_high_escape_is_a_byte_not_a_code_point() -> None:
    (word,) = split_words(r"\xff\351")
    assert os.fsencode(word) == b"\xff\xe9"


@pytest.mark.parametrize(
    ("text", "needle"),
    [('"/bin/x.sh arg', 'missing terminating "'), ("'abc", "missing terminating '"), ("abc\\", "backslash")],
)
def test_split_words_rejects_broken_quoting_with_the_string(text: str, needle: str) -> None:
    with pytest.raises(ScriptError) as exc:
        split_words(text)
    assert needle in str(exc.value) and repr(text) in str(exc.value)


def test_script_line_is_split_twice_like_keepalived() -> None:
    argv, user, group = parse_script_line("notify_master \"/etc/ka/notify.sh 'VI 1' --flag\" nobody nogroup")
    assert argv == ["/etc/ka/notify.sh", "VI 1", "--flag"]
    assert (user, group) == ("nobody", "nogroup")
    assert parse_script_line("notify_backup /bin/true") == (["/bin/true"], None, None)


def test_script_line_errors_name_the_line() -> None:
    with pytest.raises(ScriptError, match="no script given"):
        parse_script_line("notify_master")
    with pytest.raises(ScriptError, match="too many words"):
        parse_script_line("notify_master /bin/x u g extra")
    with pytest.raises(ScriptError, match="empty script command"):
        parse_script("   ")


# ------------------------------------------------------------------------------------------------ users


def test_resolve_user_forms() -> None:
    nobody = pwd.getpwnam("nobody")
    assert resolve_user("nobody") == ScriptUser(nobody.pw_uid, nobody.pw_gid, "nobody")
    assert resolve_user("nobody", "root").gid == 0
    assert resolve_user("nobody:root").gid == 0
    assert resolve_user("nobody", ":root").gid == 0
    assert resolve_user("0").uid == 0
    with pytest.raises(ScriptError, match="unknown script user 'no_such_user_xyz'"):
        resolve_user("no_such_user_xyz")
    with pytest.raises(ScriptError, match="unknown script group 'no_such_group_xyz'"):
        resolve_user("nobody", "no_such_group_xyz")


def test_default_script_user_prefers_configured_then_keepalived_script_then_self() -> None:
    assert default_script_user("nobody").name == "nobody"
    expected = "keepalived_script" if _has_user("keepalived_script") else pwd.getpwuid(os.geteuid()).pw_name
    assert default_script_user().name == expected


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# ------------------------------------------------------------------------------------------------ running


def test_exit_status_is_reported(tmp_path: Path) -> None:
    ok = asyncio.run(run_script(["/bin/true"]))
    assert ok.ok and ok.returncode == 0 and not ok.timed_out
    bad = asyncio.run(run_script(["/bin/sh", "-c", "exit 3"]))
    assert not bad.ok and bad.returncode == 3


def test_arguments_never_reach_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    out = tmp_path / "args"
    script = _script(tmp_path / "args.sh", f'printf "%s\\n" "$@" > {out}')
    argv = parse_script(f"{script} '$(touch {marker})' ';' 'a b'")
    assert asyncio.run(run_script(argv)).ok
    assert out.read_text().splitlines() == [f"$(touch {marker})", ";", "a b"]
    assert not marker.exists()


def test_missing_program_is_an_error_not_an_exception(tmp_path: Path) -> None:
    result = asyncio.run(run_script([str(tmp_path / "nope")]))
    assert not result.ok and result.returncode is None and result.error and "nope" in result.error


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = _script(tmp_path / "slow.sh", f"sleep 3600 & echo $! > {pidfile}\nwait")

    async def bounded() -> ScriptResult:
        # a liveness bound, not a timing: waiting for the hour-long child instead of the timeout fails here
        return await asyncio.wait_for(run_script([str(script)], timeout=0.3), 120)

    result = asyncio.run(bounded())
    assert result.timed_out and not result.ok
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child), "the script's child survived the timeout"


def test_sigterm_ignoring_script_is_killed_after_the_grace(tmp_path: Path) -> None:
    script = _script(tmp_path / "stubborn.sh", "trap '' TERM\nwhile :; do sleep 0.05; done")
    result = asyncio.run(run_script([str(script)], timeout=0.2, kill_grace=0.3))
    assert result.timed_out and result.signal == 9


def test_cancelling_the_run_kills_the_script(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = _script(tmp_path / "s.sh", f"echo $$ > {pidfile}\nexec sleep 30")

    async def main() -> None:
        task = asyncio.create_task(run_script([str(script)]))
        while not pidfile.exists() or not pidfile.read_text().strip():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(pid)


@needs_root
def test_script_runs_as_the_given_user(public_dir: Path) -> None:
    nobody = resolve_user("nobody")
    script = _script(
        public_dir / "whoami.sh",
        f'[ "$(id -u)" = {nobody.uid} ] && [ "$(id -g)" = {nobody.gid} ] && [ "$(id -G)" = {nobody.gid} ]',
    )
    assert asyncio.run(run_script(Script((str(script),), nobody))).ok
    assert not asyncio.run(run_script([str(script)])).ok  # as root the check fails: the test can fail


# ------------------------------------------------------------------------------------------------ security


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A root-owned 0755 directory directly under /tmp (sticky, so safe): pytest's own tmp dirs are 0700."""
    d = Path(tempfile.mkdtemp(prefix="trk-scripts-", dir="/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _secure_dir(public_dir: Path) -> Path:
    d = public_dir / "secure"
    d.mkdir(mode=0o755)
    return d


@needs_root
def test_secure_script_passes(public_dir: Path) -> None:
    script = _script(_secure_dir(public_dir) / "chk.sh", "exit 0")
    check = ensure_script_secure([str(script)], ROOT, script_security=True)
    assert check.needs_protection and check.insecure is None and not check.inhibited


@needs_root
def test_world_writable_directory_is_refused_with_script_security(public_dir: Path) -> None:
    d = _secure_dir(public_dir)
    script = _script(d / "chk.sh", "exit 0")
    d.chmod(0o777)
    with pytest.raises(ScriptSecurityError) as exc:
        ensure_script_secure([str(script)], ROOT, script_security=True)
    message = str(exc.value)
    assert str(d) in message and "writable by everyone" in message and "enable_script_security" in message
    # without script security it only warns
    check = check_script_secure(str(script), ROOT, script_security=False)
    assert check.insecure and not check.inhibited


@needs_root
def test_script_owned_by_a_user_is_refused(public_dir: Path) -> None:
    script = _script(_secure_dir(public_dir) / "chk.sh", "exit 0")
    os.chown(script, 65534, 0)
    with pytest.raises(ScriptSecurityError, match="owned by uid 65534"):
        ensure_script_secure([str(script)], ROOT, script_security=True)


@needs_root
def test_group_writable_by_non_root_group_is_refused_but_root_group_is_not(public_dir: Path) -> None:
    script = _script(_secure_dir(public_dir) / "chk.sh", "exit 0", mode=0o775)
    assert check_script_secure(str(script), ROOT, script_security=True).insecure is None
    os.chown(script, 0, 65534)
    assert "writable by group 65534" in (check_script_secure(str(script), ROOT, script_security=True).insecure or "")


@needs_root
def test_symlinks_are_resolved_unless_use_symlink_paths(public_dir: Path) -> None:
    safe = _secure_dir(public_dir)
    unsafe = public_dir / "unsafe"
    unsafe.mkdir()
    target = _script(unsafe / "real.sh", "exit 0")
    unsafe.chmod(0o777)
    link = safe / "chk.sh"
    link.symlink_to(target)
    with pytest.raises(ScriptSecurityError, match="writable by everyone"):
        ensure_script_secure([str(link)], ROOT, script_security=True)
    assert check_script_secure(str(link), ROOT, script_security=False).path == str(target)
    check = ensure_script_secure([str(link)], ROOT, script_security=True, use_symlink_paths=True)
    assert check.path == str(link) and check.insecure is None


@needs_root
def test_unprivileged_script_user_is_not_checked(public_dir: Path) -> None:
    d = _secure_dir(public_dir)
    script = _script(d / "chk.sh", "exit 0")
    d.chmod(0o777)
    check = ensure_script_secure([str(script)], resolve_user("nobody"), script_security=True)
    assert not check.needs_protection


def test_bare_name_is_found_on_path_with_a_warning() -> None:
    check = check_script_secure("true", ROOT, script_security=True, path_env="/nonexistent:/usr/bin:/bin")
    assert check.path in ("/usr/bin/true", "/bin/true")
    assert any("path search" in w for w in check.warnings)
    with pytest.raises(ScriptSecurityError, match="cannot find script 'no-such-cmd-xyz'"):
        check_script_secure("no-such-cmd-xyz", ROOT, script_security=True)


def test_non_executable_script_is_refused(tmp_path: Path) -> None:
    script = _script(tmp_path / "x.sh", "exit 0", mode=0o644)
    with pytest.raises(ScriptSecurityError, match="not executable"):
        ensure_script_secure([str(script)], ScriptUser(65534, 65534), script_security=False)


def test_loop_shutdown_right_after_spawning_does_not_hang(tmp_path: Path) -> None:
    """asyncio.run() cancels every task when main fails; a script being spawned at that moment must not hang
    the shutdown (asyncio 3.11's subprocess transport does) and must not survive it."""
    pidfile = tmp_path / "pid"
    script = _script(tmp_path / "s.sh", f"echo $$ > {pidfile}\nexec sleep 30")
    program = f"""
import asyncio
from vrrp.io.scripts import run_script

async def main():
    for _ in range(3):
        asyncio.get_running_loop().create_task(run_script([{str(script)!r}]))
    raise RuntimeError("boom")

try:
    asyncio.run(main())
except RuntimeError:
    print("clean exit")
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=20, cwd=Path(__file__).parents[2]
    )
    assert done.stdout.strip() == "clean exit", done.stderr
    if pidfile.exists() and pidfile.read_text().strip():
        assert not _alive(int(pidfile.read_text()))
