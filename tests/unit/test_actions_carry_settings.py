"""Every action carries what the I/O shell needs: from keepalived.conf through ``InstanceSettings.router_config``
to ``AddVips`` / ``RemoveVips`` (addresses with their options, excluded ones, routes, rules) and
``SendGratuitous`` (the whole GARP schedule), so the daemon never re-reads settings to carry one out."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from pykeepalived.config import HostView, load_config
from pykeepalived.daemon.settings import build_settings
from vrrp.core.actions import AddVips, RemoveVips, SendGratuitous
from vrrp.core.router import VirtualRouter

HOST = HostView(interfaces=frozenset({"eth0", "eth1"}), find_executable=lambda _: None, user_exists=lambda _: False)

CONF = """
global_defs {
  vrrp_garp_interval 0.002
}
vrrp_instance V {
  interface eth0
  virtual_router_id 7
  priority 100
  advert_int 1
  garp_master_repeat 3
  garp_master_delay 2
  garp_master_refresh 30
  garp_master_refresh_repeat 2
  virtual_ipaddress {
    10.0.0.7/24 dev eth0 label eth0:7
  }
  virtual_ipaddress_excluded {
    10.9.0.7/16 dev eth1
  }
  virtual_routes {
    10.20.0.0/16 via 10.0.0.254 dev eth0
  }
  virtual_rules {
    from 10.0.0.0/24 table 100 priority 100
  }
}
"""


def settings(tmp_path: Path) -> Any:
    f = tmp_path / "keepalived.conf"
    f.write_text(CONF)
    return build_settings(load_config(str(f), config_id="main", host=HOST).config).instances[0]


def test_add_and_remove_vips_carry_addresses_routes_and_rules(tmp_path: Path) -> None:
    s = settings(tmp_path)
    r = VirtualRouter(s.router_config(IPv4Address("10.0.0.2")))
    r.start(0)
    became_master = r.handle_timer(r.get_timer() or 0)
    add = next(a for a in became_master if isinstance(a, AddVips))
    assert add.addresses == (IPv4Address("10.0.0.7"),)  # the advertised list: not the excluded one
    assert add.install == (*s.vips, *s.excluded_vips)
    assert [str(v) for v in add.install] == ["10.0.0.7/24 dev eth0", "10.9.0.7/16 dev eth1"]
    assert add.install[0].label == "eth0:7"
    assert add.routes == s.routes and len(add.routes) == 1
    assert add.rules == s.rules and len(add.rules) == 1
    gone = next(a for a in r.shutdown(1_000_000) if isinstance(a, RemoveVips))
    assert (gone.install, gone.routes, gone.rules) == (add.install, add.routes, add.rules)


def test_send_gratuitous_carries_the_whole_schedule(tmp_path: Path) -> None:
    s = settings(tmp_path)
    r = VirtualRouter(s.router_config(IPv4Address("10.0.0.2")))
    r.start(0)
    garp = next(a for a in r.handle_timer(r.get_timer() or 0) if isinstance(a, SendGratuitous))
    # every installed address is announced, the excluded one too (keepalived does)
    assert garp.addresses == (IPv4Address("10.0.0.7"), IPv4Address("10.9.0.7"))
    assert (garp.repeat, garp.interval_us, garp.second_burst_us) == (3, 2_000, 2_000_000)
    assert (garp.refresh_us, garp.refresh_repeat) == (30_000_000, 2)
