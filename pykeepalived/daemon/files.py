"""Files the daemon writes (pid files, dumps), created so that a planted link can never redirect them.

Why: the dumps live in ``/tmp`` and pid files often in world-writable places; a local user who plants a symlink
(or a hard link) at a predictable path must not make root overwrite its target.  keepalived opens such files with
``O_NOFOLLOW``; we go one step further and never open the final path for writing at all: the content goes into a
fresh temporary beside it (``mkstemp``: ``O_CREAT | O_EXCL | O_NOFOLLOW``, a random name, mode set before any
byte is written), and ``rename`` puts it in place.  ``rename`` replaces a directory entry, so whatever was planted
at the path (a symlink, a hard link, a file) is unlinked and its target is left untouched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

#: keepalived's modes: pid files rw-r--r--, dump files rw------- (fopen_safe's fchmod).
PID_FILE_MODE = 0o644
DUMP_FILE_MODE = 0o600


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` (mode ``mode``) without following anything planted at ``path``.

    Raises OSError (with the failing path in the message) when the directory is not writable.
    """
    target = os.fspath(path)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = _create_beside(target)
    try:
        os.fchmod(fd, mode)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        os.close(fd)
        fd = -1
        os.replace(tmp, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _create_beside(target: str) -> tuple[int, str]:
    """A new file beside ``target`` with a random name, opened for writing: ``tempfile.mkstemp``'s flags
    (``O_CREAT | O_EXCL | O_NOFOLLOW``, mode 0600), by hand because ``tempfile`` imports ``shutil``, ``random``,
    ``bz2`` and ``lzma`` (~1.5 MiB) into the lean watchdog, which writes the children's pid files."""
    directory, name = os.path.split(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):  # a clash of 64 random bits is someone planting names: give up like mkstemp does
        tmp = os.path.join(directory or ".", f".{name}.{os.urandom(8).hex()}")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no usable temporary name", target)


def read_small(path: str | os.PathLike[str], *, limit: int = 4096) -> str | None:
    """The text of a small regular file at ``path``, never through a symlink; None when absent or not one.

    Used to read a pid file before replacing it: a FIFO or a link planted there must not block or redirect us.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO):
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit).decode(errors="replace")
    finally:
        os.close(fd)
