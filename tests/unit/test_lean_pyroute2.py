"""The VRRP child imports only the parts of pyroute2 it uses (vrrp.io.lean_pyroute2), and code that asks the bare
package for anything else still gets it. Fresh interpreters: the test process has pyroute2 imported already."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from vrrp.io import lean_pyroute2
assert lean_pyroute2.install()
assert not lean_pyroute2.install()  # once per process
import vrrp.io.driver, vrrp.io.reflector, vrrp.io.addresses
print(sorted(m for m in ("sqlite3", "pyroute2.ndb", "pyroute2.ipdb", "pyroute2.conntrack") if m in sys.modules))
from pyroute2 import config                      # a submodule, without the package's __init__
assert "pyroute2.ndb" not in sys.modules
from pyroute2 import IPRoute, NetlinkError       # a name of the package's __init__: it runs, as a plain import
from pyroute2.iproute.linux import IPRoute as Direct
assert IPRoute is Direct and "pyroute2.ndb" in sys.modules
print("ok")
"""


def test_vrrp_modules_leave_the_unused_subsystems_out_and_other_names_still_resolve() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "ok"]


def test_install_is_refused_once_pyroute2_is_imported() -> None:
    import pyroute2  # noqa: F401

    from vrrp.io import lean_pyroute2

    assert lean_pyroute2.install() is False
