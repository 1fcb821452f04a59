"""``python -I -S .../lean_watchdog.py ROOT STATE``: the entry of the watchdog's own interpreter.

:func:`pykeepalived.daemon.watchdog.become_watchdog` re-executes the daemon's parent as this script, isolated
(``-I``: no ``PYTHON*`` variables, no user site, the script's directory not on the path) and without ``site``
(``-S``: no site-packages, no ``.pth`` processing), so the interpreter that idles for the daemon's whole life holds
only what the watchdog imports.  ROOT, the directory holding the ``pykeepalived`` package, is the one path added.
"""

import sys

if __name__ == "__main__":
    sys.path.insert(0, sys.argv[1])
    from pykeepalived.daemon.watchdog import main

    sys.exit(main(sys.argv[2:]))
