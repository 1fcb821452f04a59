"""``python -m pykeepalived ...``: the ``pykeepalived`` command (keepalived's flags), for when no console script is
on the PATH (tests, the lab)."""

from pykeepalived.sigsafe import protect_entry

protect_entry()  # first: keepalived's signals cannot kill the entry point, even before the CLI is loaded

from pykeepalived.cli import console_main  # noqa: E402

console_main()
