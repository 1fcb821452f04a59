"""MISC_CHECK (keepalived's check_misc.c): run ``misc_path`` as argv (never through a shell) as ``user``;
exit 0 passes, 1 (or any other code without ``misc_dynamic``) fails; with ``misc_dynamic`` an exit code of
2..255 passes and sets the real server's weight to code - 2. A script still running when the probe's hard timeout
(``misc_timeout``, default delay_loop) ends is killed with its whole process group."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import signal
from typing import Any

from checkers.core.spec import MiscProbe, ProbeResult


def verdict(probe: MiscProbe, code: int) -> ProbeResult:
    if code == 0:
        return ProbeResult(True)
    if probe.dynamic and 2 <= code <= 255:
        return ProbeResult(True, weight=code - 2)
    if code < 0:
        return ProbeResult(False, f"Misc check killed by signal {-code} for")
    return ProbeResult(False, f"Misc check exited with status {code} for")


def credentials(probe: MiscProbe) -> dict[str, Any]:
    """setuid/setgid arguments: the user, its group (the user's primary one by default) and that group alone as
    supplementary groups, as keepalived's setgroups(1, &gid) - never root's groups under another uid."""
    if probe.user is None:
        return {}
    pw = pwd.getpwuid(probe.user) if isinstance(probe.user, int) else pwd.getpwnam(probe.user)
    if probe.group is None:
        gid = pw.pw_gid
    else:
        gid = probe.group if isinstance(probe.group, int) else grp.getgrnam(probe.group).gr_gid
    if pw.pw_uid == os.geteuid() and gid == os.getegid():
        return {}
    return {"user": pw.pw_uid, "group": gid, "extra_groups": [gid]}


async def probe_misc(probe: MiscProbe) -> ProbeResult:
    try:
        proc = await asyncio.create_subprocess_exec(
            *probe.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True, **credentials(probe),
        )
    except (OSError, ValueError, KeyError) as exc:
        return ProbeResult(False, f"Misc check could not run {probe.argv[0]!r} ({exc}) for")
    try:
        code = await proc.wait()
    finally:
        if proc.returncode is None:  # cancelled by the hard timeout: kill the script and what it started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                await asyncio.shield(proc.wait())
    return verdict(probe, code)
