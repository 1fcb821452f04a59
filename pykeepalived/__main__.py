"""``python -m pykeepalived ...``: the ``pykeepalived`` command (keepalived's flags), for when no console script is
on the PATH (tests, the lab)."""

from pykeepalived.cli import console_main

console_main()
