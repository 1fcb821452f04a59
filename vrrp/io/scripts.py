"""Run keepalived scripts: keepalived's argv split, timeouts that kill the process group, script users, and
keepalived's script-security check.

Why this module exists as it does:

* **Never a shell.** keepalived (since 2.0) splits the configured string itself and ``execve``s the result; a
  ``script "pidof haproxy"`` must behave the same here, and a ``$(...)`` in a config must stay inert text.
  :func:`split_words` is a transcription of keepalived's ``alloc_strvec_quoted_escaped`` (lib/parser.c): words
  are separated by unquoted white space, ``"`` and ``'`` quote (and may be glued to unquoted text), and the
  backslash escapes ``\\a \\b \\E \\f \\n \\r \\t \\v \\nnn \\xXX \\cC`` work inside and outside quotes.  A
  script keyword's value is split twice, as keepalived does: once as part of the config line (so
  ``notify_master "/bin/x.sh a" user group`` gives the value ``/bin/x.sh a``), then the value itself (so
  single quotes inside the double quotes protect spaces: ``"/bin/x.sh 'a b'"`` -> ``['/bin/x.sh', 'a b']``).
* **Timeouts kill the whole process group.** A check script that forks (``curl`` in a pipeline, ``sleep``)
  must not leave orphans: each script runs in its own session, so on timeout we send SIGTERM to the group,
  wait a grace period (keepalived: 2 s), then SIGKILL the group; after a SIGTERM death the group is SIGKILLed
  too.
* **Script security** follows keepalived's ``check_script_secure`` (lib/notify.c): a script that will run with
  uid 0 or gid 0 (or is set-uid/gid root) is unsafe when the file or any directory on its path is owned by a
  non-root user, or is group-writable by a non-root group or world-writable (a sticky directory is fine).
  With ``enable_script_security`` such a script is refused with a message naming the path component at fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import pwd
import signal
import stat
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: keepalived's default script user: used when it exists and no ``script_user`` is configured.
DEFAULT_SCRIPT_USER = "keepalived_script"

#: Grace between SIGTERM and SIGKILL for a timed-out script (keepalived: 2 s, ``vrrp_script_child_thread``).
DEFAULT_KILL_GRACE = 2.0

_WHITE_SPACE = " \t\n\r\f\v"


class ScriptError(ValueError):
    """A script string or script user that cannot be used; the message names the offending text."""


class ScriptSecurityError(ScriptError):
    """A script refused by script security (or not found/executable); the message names the path at fault."""


# -------------------------------------------------------------------------------- splitting


def _escape(text: str, i: int) -> tuple[str, int]:
    """Decode the escape whose letter is at ``text[i]`` (the backslash is at i-1); return (char, next index).

    Values above 0x7f are bytes, not code points (keepalived works on C chars), so they become surrogate
    escapes: ``os.fsencode`` turns them back into the same single byte when the argv reaches ``execve``.
    """
    c = text[i]
    hexdigits = "0123456789abcdefABCDEF"
    if c == "x" and i + 1 < len(text) and text[i + 1] in hexdigits:
        value = 0
        i += 1
        while i < len(text) and text[i] in hexdigits:
            value = ((value << 4) | int(text[i], 16)) & 0xFF  # a C char keeps the low 8 bits
            i += 1
        return _byte(value), i
    if c == "c" and i + 1 < len(text):
        return _byte(ord(text[i + 1]) & 0x1F), i + 2
    if "0" <= c <= "7":
        value = 0
        n = 0
        while n < 3 and i < len(text) and "0" <= text[i] <= "7":
            value = (value << 3) + int(text[i])
            i += 1
            n += 1
        return _byte(value & 0xFF), i
    table = {"a": "\a", "b": "\b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
    return table.get(c, c), i + 1


def _byte(value: int) -> str:
    return chr(value) if value < 0x80 else chr(0xDC00 + value)


def split_words(text: str) -> list[str]:
    """Split ``text`` into words with keepalived's quoting and escape rules (``alloc_strvec_quoted_escaped``).

    Raises :class:`ScriptError` for an unterminated quote or a trailing backslash, naming the string.
    """
    words: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] in _WHITE_SPACE:
            i += 1
        if i >= n:
            break
        out: list[str] = []
        quote = ""
        while i < n:
            c = text[i]
            if c == "\\":
                if i + 1 >= n:
                    raise ScriptError(f"missing escape character after the final backslash in {text!r}")
                ch, i = _escape(text, i + 1)
                out.append(ch)
                continue
            if quote:
                if c == quote:
                    quote = ""
                else:
                    out.append(c)
                i += 1
                continue
            if c in "\"'":
                quote = c
                i += 1
                continue
            if c in _WHITE_SPACE:
                break
            out.append(c)
            i += 1
        if quote:
            raise ScriptError(f"missing terminating {quote} in {text!r}")
        words.append("".join(out))
    return words


def parse_script(value: str) -> list[str]:
    """Return the argv of a script keyword's *value* (what the config parser hands over as the first word).

    This is keepalived's second split (``set_script_params_array``).  An empty value is an error.
    """
    argv = split_words(value)
    if not argv or not argv[0]:
        raise ScriptError(f"empty script command {value!r}")
    return argv


def quote_word(word: str) -> str:
    """Quote one word so that :func:`split_words` gives it back unchanged (for writing config files).

    Single quotes protect everything but the backslash and the single quote, which are escaped.
    """
    if word and not any(c in word for c in _WHITE_SPACE + "\"'\\"):
        return word
    return "'" + word.replace("\\", "\\\\").replace("'", "\\'") + "'"


def join_words(argv: Sequence[str]) -> str:
    """The inverse of :func:`split_words`: ``split_words(join_words(argv)) == list(argv)``."""
    return " ".join(quote_word(w) for w in argv)


def parse_script_line(line: str) -> tuple[list[str], str | None, str | None]:
    """Split a config line ``KEYWORD SCRIPT [USER [GROUP]]`` into (argv, user, group), as keepalived does.

    >>> parse_script_line('notify_master "/bin/n.sh \\'a b\\'" nobody nogroup')
    (['/bin/n.sh', 'a b'], 'nobody', 'nogroup')
    """
    words = split_words(line)
    if len(words) < 2:
        raise ScriptError(f"no script given in {line!r}")
    if len(words) > 4:
        raise ScriptError(f"too many words after the script in {line!r} (expected [USER [GROUP]])")
    user = words[2] if len(words) > 2 else None
    group = words[3] if len(words) > 3 else None
    return parse_script(words[1]), user, group


# -------------------------------------------------------------------------------- users


@dataclass(frozen=True)
class ScriptUser:
    """The uid/gid a script runs as (keepalived's ``script_user`` / per-script ``user USER [GROUP]``)."""

    uid: int
    gid: int
    name: str = ""

    @property
    def is_root(self) -> bool:
        """True when the script runs with root's uid or gid: only then does script security apply."""
        return self.uid == 0 or self.gid == 0


def resolve_user(user: str, group: str | None = None) -> ScriptUser:
    """Resolve ``user [[:]group]`` (names or numbers) like keepalived's ``set_uid_gid``.

    The group defaults to the user's primary group; ``user:group`` in one word is accepted too.
    """
    if group is None and ":" in user:
        user, _, group = user.partition(":")
    if group is not None and group.startswith(":"):
        group = group[1:]
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        if not user.isdigit():
            raise ScriptError(f"unknown script user {user!r}") from None
        uid, gid = int(user), int(user)
        try:
            pw_by_id = pwd.getpwuid(uid)
            gid = pw_by_id.pw_gid
        except KeyError:
            pass
    else:
        uid, gid = pw.pw_uid, pw.pw_gid
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            if not group.isdigit():
                raise ScriptError(f"unknown script group {group!r} (for user {user!r})") from None
            gid = int(group)
    return ScriptUser(uid=uid, gid=gid, name=user)


def user_exists(name: str) -> bool:
    """Whether the account ``name`` exists (``keepalived_script`` decides the default script user)."""
    try:
        pwd.getpwnam(name)
    except (KeyError, ValueError):  # ValueError: a NUL byte in the name
        return False
    return True


def default_script_user(script_user: str | None = None, script_group: str | None = None) -> ScriptUser:
    """The user scripts run as when they name none: ``script_user`` if configured, else ``keepalived_script``
    if that account exists, else the user we run as (keepalived's ``set_default_script_user``)."""
    if script_user:
        return resolve_user(script_user, script_group)
    try:
        pw = pwd.getpwnam(DEFAULT_SCRIPT_USER)
    except KeyError:
        return ScriptUser(uid=os.geteuid(), gid=os.getegid(), name=_user_name(os.geteuid()))
    return ScriptUser(uid=pw.pw_uid, gid=pw.pw_gid, name=DEFAULT_SCRIPT_USER)


def secure_default_user(script_user: str | None, script_group: str | None, *,
                        script_security: bool) -> ScriptUser | None:
    """:func:`default_script_user`, or None when ``enable_script_security`` is on and no unprivileged user can be
    set (no ``script_user``, no ``keepalived_script`` account): such scripts are refused by
    :func:`script_refusal`, never run as root (keepalived's "Unable to set default user keepalived_script").
    The one rule for the VRRP settings and the checker's (``pykeepalived.daemon.settings`` / ``.lvs``)."""
    if script_security and not script_user and not user_exists(DEFAULT_SCRIPT_USER):
        return None
    return default_script_user(script_user, script_group)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


# -------------------------------------------------------------------------------- security


@dataclass(frozen=True)
class SecurityCheck:
    """Outcome of :func:`check_script_secure` for one script.

    ``path`` is the resolved executable (after a PATH search for a bare name); ``insecure`` names the first
    unsafe path component (None when safe); ``inhibited`` is True when script security refuses the script.
    """

    path: str
    executable: bool
    needs_protection: bool
    insecure: str | None = None
    inhibited: bool = False
    warnings: tuple[str, ...] = ()


def _is_executable(st: os.stat_result, user: ScriptUser) -> bool:
    mode = st.st_mode
    if user.uid == 0:
        return bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    if user.uid == st.st_uid:
        return bool(mode & stat.S_IXUSR)
    if user.gid == st.st_gid:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def _find_in_path(name: str, user: ScriptUser, path_env: str | None) -> str | None:
    path = path_env if path_env is not None else os.environ.get("PATH", os.defpath)
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and _is_executable(st, user):
            return candidate
    return None


def _unsafe(st: os.stat_result) -> str | None:
    """Why a path component is unsafe for a root script, or None (keepalived's test, sticky dirs allowed)."""
    if st.st_uid != 0:
        return f"owned by uid {st.st_uid}"
    sticky_dir = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
    if sticky_dir:
        return None
    if st.st_gid != 0 and st.st_mode & stat.S_IWGRP:
        return f"writable by group {st.st_gid}"
    if st.st_mode & stat.S_IWOTH:
        return "writable by everyone"
    return None


def check_script_secure(
    argv0: str,
    user: ScriptUser,
    *,
    script_security: bool,
    path_env: str | None = None,
    use_symlink_paths: bool = False,
) -> SecurityCheck:
    """Check one script the way keepalived's ``check_script_secure`` does, without raising.

    Like keepalived, symbolic links are resolved first (``check.path`` is the real path, which is what
    keepalived then executes) unless ``use_symlink_paths`` is set: a link in a safe directory to a script in
    an unsafe one is unsafe.  Raises :class:`ScriptSecurityError` only when the script cannot be found at all
    (keepalived disables it).
    """
    warnings: list[str] = []
    path = argv0
    if "/" not in argv0:
        found = _find_in_path(argv0, user, path_env)
        if found is None:
            raise ScriptSecurityError(f"cannot find script {argv0!r} in PATH (or it is not executable)")
        warnings.append(f"script {argv0!r} resolved by path search to {found!r}; please specify the full path")
        path = found
    try:
        file_st = os.stat(path)
    except OSError as exc:
        raise ScriptSecurityError(f"unable to access script {path!r}: {exc.strerror}") from None
    if not use_symlink_paths:
        path = os.path.realpath(path)
    executable = _is_executable(file_st, user)
    if not executable:
        warnings.append(f"script {path!r} is not executable for uid:gid {user.uid}:{user.gid}")
    needs_protection = executable and (
        user.is_root
        or (file_st.st_uid == 0 and bool(file_st.st_mode & stat.S_IXUSR) and bool(file_st.st_mode & stat.S_ISUID))
        or (file_st.st_gid == 0 and bool(file_st.st_mode & stat.S_IXGRP) and bool(file_st.st_mode & stat.S_ISGID))
    )
    if not needs_protection:
        return SecurityCheck(path, executable, False, warnings=tuple(warnings))
    # Check "/", then every directory on the way down, then the file itself (as keepalived does, unresolved:
    # a symlinked directory is judged by what it points to, because stat follows links).
    absolute = path if path.startswith("/") else os.path.join(os.getcwd(), path)
    parts = [p for p in absolute.split("/") if p]
    components = ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
    for component in components:
        try:
            st = os.stat(component)
        except OSError as exc:
            raise ScriptSecurityError(f"script {path!r}: cannot check {component!r}: {exc.strerror}") from None
        why = _unsafe(st)
        if why is not None:
            mode = stat.S_IMODE(st.st_mode)
            insecure = f"{component!r} is {why} (mode {mode:04o})"
            return SecurityCheck(
                path,
                executable,
                True,
                insecure=insecure,
                inhibited=script_security,
                warnings=(*warnings, f"unsafe permissions found for script {path!r}: {insecure}"),
            )
    return SecurityCheck(path, executable, True, warnings=tuple(warnings))


def ensure_script_secure(
    argv: Sequence[str],
    user: ScriptUser,
    *,
    script_security: bool,
    path_env: str | None = None,
    use_symlink_paths: bool = False,
) -> SecurityCheck:
    """Like :func:`check_script_secure`, but raise :class:`ScriptSecurityError` when the script is refused.

    Warnings (insecure but security not enabled, PATH search, not executable) are logged, as keepalived does.
    """
    check = check_script_secure(
        argv[0], user, script_security=script_security, path_env=path_env, use_symlink_paths=use_symlink_paths
    )
    for warning in check.warnings:
        log.warning("%s", warning)
    if check.inhibited:
        raise ScriptSecurityError(
            f"refusing script {check.path!r}: {check.insecure}; enable_script_security does not run scripts "
            f"as uid:gid {user.uid}:{user.gid} when a non-root user can change them "
            "(fix the permissions or set script_user / user to an unprivileged account)"
        )
    if not check.executable:
        raise ScriptSecurityError(f"script {check.path!r} is not executable for uid:gid {user.uid}:{user.gid}")
    return check


def script_refusal(
    argv: Sequence[str], user: ScriptUser | None, *, script_security: bool, path_env: str | None = None
) -> str | None:
    """Why keepalived disables this script, or None when it runs: the one check behind ``-t`` and the daemon.

    ``user`` None is a script no user could be set for (no ``user``, no ``script_user`` and no
    ``keepalived_script`` account): with ``enable_script_security`` it is removed, as keepalived's
    "Unable to set default user keepalived_script", never run as root.  Otherwise the script must be found
    and executable for its user, and, with script security, no part of its path may be writable by a
    non-root user when it runs with root's rights (keepalived's "Disabling ... due to insecure").
    """
    if user is None:
        if script_security:
            return f"Unable to set default user {DEFAULT_SCRIPT_USER} (set script_user or the script's user)"
        return None
    try:
        ensure_script_secure(argv, user, script_security=script_security, path_env=path_env)
    except ScriptSecurityError as exc:
        return str(exc)
    return None


# -------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Script:
    """A configured script: its argv (already split) and who runs it (None: the process's own user)."""

    argv: tuple[str, ...]
    user: ScriptUser | None = None

    def __post_init__(self) -> None:
        if not self.argv or not self.argv[0]:
            raise ScriptError("a script needs a command (argv is empty)")

    @classmethod
    def from_config(
        cls,
        value: str,
        user: str | None = None,
        group: str | None = None,
        *,
        default: ScriptUser | None = None,
    ) -> Script:
        """Build from a script keyword's value and optional ``USER [GROUP]`` words; without a user the
        script runs as ``default`` (pass :func:`default_script_user`'s answer: the global ``script_user``)."""
        return cls(tuple(parse_script(value)), resolve_user(user, group) if user else default)

    def with_args(self, *extra: str) -> Script:
        """A copy with ``extra`` appended (the generic ``notify`` script's four arguments, a FIFO's name)."""
        return Script((*self.argv, *extra), self.user)


@dataclass(frozen=True)
class ScriptResult:
    """How a script run ended.

    ``returncode`` is the exit status (None when killed by a signal or never started), ``signal`` the signal
    that ended it, ``timed_out`` whether we killed it for exceeding its timeout, ``error`` why it could not
    be started (not found, permission denied).
    """

    returncode: int | None
    signal: int | None = None
    timed_out: bool = False
    error: str | None = None
    duration: float = 0.0
    pid: int | None = None

    @property
    def ok(self) -> bool:
        """keepalived's success: exited with status 0 (a timeout or a signal is a failure)."""
        return self.returncode == 0 and not self.timed_out


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _exited(pidfd: int, timeout: float | None = None) -> bool:
    """Wait until the process behind ``pidfd`` has exited (the pidfd becomes readable); False on timeout.

    Not ``asyncio.wait_for``: in Python 3.11 it can swallow a cancellation that arrives just as the awaited
    thing completes, and a tracker task that misses its cancellation runs forever (seen under a fork storm).
    Awaiting a plain future with a timer is cancel-safe.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()

    def finish(exited: bool) -> None:
        if not done.done():
            done.set_result(exited)

    loop.add_reader(pidfd, finish, True)
    timer = loop.call_later(timeout, finish, False) if timeout is not None else None
    try:
        return await done
    finally:
        loop.remove_reader(pidfd)
        if timer is not None:
            timer.cancel()


async def run_script(
    argv: Sequence[str] | Script,
    *,
    timeout: float | None = None,
    user: ScriptUser | None = None,
    env: Mapping[str, str] | None = None,
    kill_grace: float = DEFAULT_KILL_GRACE,
    cwd: str | os.PathLike[str] | None = None,
) -> ScriptResult:
    """Run ``argv`` (no shell) in its own process group, as ``user``, and report how it ended.

    stdin/stdout/stderr are /dev/null, like keepalived's scripts.  On timeout the group gets SIGTERM, then
    SIGKILL after ``kill_grace`` seconds.  Cancelling the awaiting task kills the group too, so a daemon that
    shuts down never leaves a script behind.

    The exit is awaited through a pidfd rather than asyncio's subprocess transport: asyncio (3.11) can hang
    forever when a loop shutdown cancels a task while its subprocess is being set up, and needs a thread per
    child; a fork/exec plus a readable pidfd has neither problem.
    """
    if isinstance(argv, Script):
        user = argv.user if user is None else user
        argv = argv.argv
    args = list(argv)
    started = time.monotonic()
    kwargs: dict[str, Any] = {}
    if user is not None and (user.uid != os.geteuid() or user.gid != os.getegid()):
        kwargs.update(user=user.uid, group=user.gid, extra_groups=[user.gid])  # keepalived: setgroups(1, &gid)
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            **kwargs,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return ScriptResult(returncode=None, error=f"{args[0]}: {reason}")
    pgid = proc.pid  # start_new_session: the child leads its own group
    timed_out = False
    pidfd = os.pidfd_open(proc.pid)
    try:
        if not await _exited(pidfd, timeout):
            timed_out = True
            _kill_group(pgid, signal.SIGTERM)
            if not await _exited(pidfd, kill_grace):
                log.warning("script %s (pid %d) did not respond to SIGTERM; killing it", args[0], proc.pid)
                _kill_group(pgid, signal.SIGKILL)
                await _exited(pidfd)
    except asyncio.CancelledError:
        _kill_group(pgid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        # Reap it before giving up (a SIGKILLed process dies at once); a second cancel stops the wait, and a
        # process still unreaped is left to subprocess's own cleanup at the next spawn.
        with contextlib.suppress(asyncio.CancelledError):
            await _exited(pidfd, 1.0)
        proc.poll()
        raise
    finally:
        os.close(pidfd)
    rc = proc.wait()  # it has exited: this only reaps
    if rc < 0 and -rc == signal.SIGTERM:
        _kill_group(pgid, signal.SIGKILL)  # make sure children of a terminated script die too
    duration = time.monotonic() - started
    if rc < 0:
        return ScriptResult(returncode=None, signal=-rc, timed_out=timed_out, duration=duration, pid=proc.pid)
    return ScriptResult(returncode=rc, timed_out=timed_out, duration=duration, pid=proc.pid)
