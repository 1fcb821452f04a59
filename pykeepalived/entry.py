"""The ``pykeepalived`` console script: keepalived's signals made harmless first (:mod:`pykeepalived.sigsafe`, which
imports nothing but ``signal``), then the command line is loaded."""

from __future__ import annotations

from pykeepalived.sigsafe import protect_entry


def console_main() -> None:  # pragma: no cover - exercised through the console script
    protect_entry()
    from pykeepalived.cli import console_main as cli_main

    cli_main()
