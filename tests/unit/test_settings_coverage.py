"""Every field of the config model's VRRP classes (instance, globals, routes, rules) reaches the daemon or says why
not (pykeepalived/daemon/settings.py ``FIELD_USE``): no keyword is parsed and then silently dropped.

The evidence is behaviour, not the table: each *consumed* field is changed in a loaded model and what the daemon
would run (the settings and each instance's router config, or the refusal) must change; each field accepted
*without effect* is changed the same way and that must change nothing; each *resolved* global is written in a
configuration and the instance field it resolves into must take its value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.config import HostView, Severity, load_config
from pykeepalived.config import model as m
from pykeepalived.config.errors import Location
from pykeepalived.daemon.settings import FIELD_USE, GLOBAL_FIELDS, SettingsError, build_settings
from pykeepalived.daemon.syncd import build_syncd

HOST = HostView(interfaces=frozenset({"eth0", "eth1", "lo"}), find_executable=lambda c: c,
                user_exists=lambda _: False)

# Every consumed field must be observable here: a unicast v2 instance with authentication, trackers of every kind,
# notify scripts, a route and a rule, no unicast_src_ip (so mcast_src_ip is the source); a multicast IPv6 instance
# (for the IPv6 globals); a script user (so script_group counts).
BASE = """global_defs {
  router_id lab
  script_user root
}
vrrp_script chk {
  script "/bin/true"
}
track_file tf {
  file /tmp/tf
}
vrrp_track_process tp {
  process sshd
}
vrrp_instance VI_4 {
  interface eth0
  virtual_router_id 51
  version 2
  priority 100
  advert_int 1
  mcast_src_ip 10.0.0.2
  unicast_peer {
    10.0.0.3
  }
  authentication {
    auth_type PASS
    auth_pass secret
  }
  track_script {
    chk
  }
  track_file {
    tf
  }
  track_process {
    tp
  }
  notify_master /bin/true
  virtual_ipaddress {
    10.0.0.100/24
  }
  virtual_routes {
    10.1.0.0/16 via 10.0.0.1 dev eth0
  }
  virtual_rules {
    from 10.2.0.0/16 table 100 priority 100
  }
}
vrrp_instance VI_6 {
  interface eth0
  virtual_router_id 52
  priority 100
  virtual_ipaddress {
    fd00::100/64
  }
}
"""

MINIMAL = "vrrp_instance R {\n  virtual_router_id 9\n  virtual_ipaddress {\n    10.0.0.9/24\n  }\n}\n"


def _load(tmp_path: Path, text: str) -> m.KeepalivedConfig:
    f = tmp_path / "keepalived.conf"
    f.write_text(text)
    r = load_config(str(f), config_id="main", host=HOST)
    # root scripts without script security are reported (keepalived's exit 6), not refused
    assert not [d for d in r.diagnostics if d.severity >= Severity.ERROR and d.severity != Severity.SECURITY], (
        r.diagnostics)
    return r.config


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> m.KeepalivedConfig:
    cfg = _load(tmp_path_factory.mktemp("coverage"), BASE)
    assert [i.name for i in cfg.vrrp_instances] == ["VI_4", "VI_6"]
    return cfg


def observe(cfg: m.KeepalivedConfig) -> str:
    """What the daemon would run: the settings, each instance's router config and the IPVS sync daemon (which
    the VRRP process runs for an instance), or the refusal."""
    try:
        settings = build_settings(cfg)
        routers = [i.router_config(i.src_ip or (IPv4Address("10.0.0.2") if i.family == 4 else IPv6Address("fe80::2")))
                   for i in settings.instances]
        syncd = build_syncd(cfg)
    except SettingsError as exc:
        return f"refused: {exc}"
    return repr((settings, routers, syncd))


def _ref(name: str, weight: int | None = None) -> m.TrackRef:
    return m.TrackRef(name, Location("x", 1), weight)


def _vip(text: str, prefixlen: int, family: int = 4) -> m.VirtualAddress:
    return m.VirtualAddress(text, prefixlen, family, Location("x", 1))


# Values that are not a plain flip / increment of the current one.
INSTANCE_CHANGES: dict[str, Callable[[m.VrrpInstance], object]] = {
    "name": lambda i: "OTHER",
    "location": lambda i: Location(i.location.file, i.location.line + 1),
    "state": lambda i: "MASTER",
    "interface": lambda i: "eth1",
    "family": lambda i: 6,
    "version": lambda i: 3,
    "virtual_ipaddress": lambda i: (*i.virtual_ipaddress, _vip("10.0.0.101", 24)),
    "virtual_ipaddress_excluded": lambda i: (_vip("192.168.1.1", 24),),
    "virtual_routes": lambda i: (dataclasses.replace(i.virtual_routes[0], metric=5),),
    "virtual_rules": lambda i: (dataclasses.replace(i.virtual_rules[0], priority=200),),
    "unicast_src_ip": lambda i: "10.0.0.9",
    "unicast_peer": lambda i: (m.UnicastPeer("10.0.0.4", Location("x", 1)),),
    "unicast_ttl": lambda i: 64,
    "mcast_src_ip": lambda i: "10.0.0.8",
    "mcast_dst_ip": lambda i: "224.0.0.99",
    "auth_type": lambda i: None,
    "auth_pass": lambda i: "other",
    "track_interface": lambda i: (_ref("eth1", -10),),
    "track_script": lambda i: (_ref("chk", -20),),
    "track_file": lambda i: (_ref("tf", -20),),
    "track_process": lambda i: (_ref("tp", -20),),
    "notify": lambda i: m.Notify(backup=m.Script("/bin/false", ("/bin/false",))),
    "use_vmac": lambda i: "",
    "extra": lambda i: (*i.extra, ("v3_checksum_as_v2", ())),
    "smtp_alert": lambda i: True,
    "lvs_sync_daemon_interface": lambda i: "eth1",
}

GLOBAL_CHANGES: dict[str, Callable[[m.GlobalDefs], object]] = {
    "router_id": lambda g: "other",
    "script_user": lambda g: "nobody",
    "script_group": lambda g: "nogroup",
    "vrrp_mcast_group4": lambda g: "224.0.0.99",
    "vrrp_mcast_group6": lambda g: "ff02::99",
    "extra": lambda g: (*g.extra, ("vrrp_notify_fifo", ("/tmp/fifo",))),
    "notification_email": lambda g: ("a@example.org",),
    "notification_email_from": lambda g: "b@example.org",
    "smtp_server": lambda g: "192.0.2.1",
    "smtp_helo_name": lambda g: "helo",
    "smtp_alert": lambda g: True,
    "smtp_alert_vrrp": lambda g: True,
    "smtp_alert_checker": lambda g: True,
    "lvs_sync_daemon": lambda g: ("eth0",),
    "lvs_timeouts": lambda g: (("tcp", 900),),
    "max_auto_priority": lambda g: 10,
    "random_seed": lambda g: 1,
}

# the global keyword and value written in a configuration, for each resolved global
GLOBAL_TEXT: dict[str, tuple[str, object]] = {
    "vrrp_version": ("vrrp_version 3", 3),
    "vrrp_garp_master_delay": ("vrrp_garp_master_delay 7", 7.0),
    "vrrp_garp_master_repeat": ("vrrp_garp_master_repeat 3", 3),
    "vrrp_garp_master_refresh": ("vrrp_garp_master_refresh 60", 60.0),
    "vrrp_garp_master_refresh_repeat": ("vrrp_garp_master_refresh_repeat 2", 2),
    "vrrp_garp_lower_prio_delay": ("vrrp_garp_lower_prio_delay 9", 9.0),
    "vrrp_garp_lower_prio_repeat": ("vrrp_garp_lower_prio_repeat 2", 2),
    "vrrp_down_timer_adverts": ("vrrp_down_timer_adverts 5", 5),
    "vrrp_lower_prio_no_advert": ("vrrp_lower_prio_no_advert", True),
    "vrrp_higher_prio_send_advert": ("vrrp_higher_prio_send_advert", True),
    "vrrp_skip_check_adv_addr": ("vrrp_skip_check_adv_addr", True),
    "vrrp_strict": ("vrrp_strict", True),
    "default_interface": ("default_interface eth1", "eth1"),
}


ROUTE_CHANGES: dict[str, Callable[[m.Route], object]] = {
    "dst": lambda r: IPv4Network("10.9.0.0/16"),
    "type": lambda r: "blackhole",
    "via": lambda r: IPv4Address("10.0.0.254"),
    "dev": lambda r: "eth1",
    "src": lambda r: IPv4Address("10.0.0.2"),
    "table": lambda r: 100,
    "metric": lambda r: 5,
    "scope": lambda r: "link",
    "options": lambda r: ("mtu", "1400"),
    "words": lambda r: ("changed",),
    "location": lambda r: Location(r.location.file, r.location.line + 1),
}

RULE_CHANGES: dict[str, Callable[[m.Rule], object]] = {
    "family": lambda r: 6,
    "table": lambda r: 200,
    "src": lambda r: IPv4Network("10.3.0.0/16"),
    "dst": lambda r: IPv4Network("10.4.0.0/16"),
    "priority": lambda r: 300,
    "iif": lambda r: "eth0",
    "oif": lambda r: "eth1",
    "fwmark": lambda r: 7,
    "options": lambda r: ("not",),
    "words": lambda r: ("changed",),
    "location": lambda r: Location(r.location.file, r.location.line + 1),
}


def _first_instance(cfg: m.KeepalivedConfig) -> m.VrrpInstance:
    return cfg.vrrp_instances[0]


def _put_instance(cfg: m.KeepalivedConfig, inst: m.VrrpInstance) -> m.KeepalivedConfig:
    return dataclasses.replace(cfg, vrrp_instances=(inst, *cfg.vrrp_instances[1:]))


@dataclasses.dataclass(frozen=True)
class Site:
    """Where the base configuration holds one object of a model class, and the changes its fields take."""

    get: Callable[[m.KeepalivedConfig], Any]
    put: Callable[[m.KeepalivedConfig, Any], m.KeepalivedConfig]
    changes: dict[str, Callable[[Any], object]]


SITES: dict[type, Site] = {
    m.VrrpInstance: Site(_first_instance, _put_instance, INSTANCE_CHANGES),
    m.GlobalDefs: Site(lambda c: c.global_defs, lambda c, g: dataclasses.replace(c, global_defs=g), GLOBAL_CHANGES),
    m.Route: Site(lambda c: _first_instance(c).virtual_routes[0],
                  lambda c, r: _put_instance(c, dataclasses.replace(_first_instance(c), virtual_routes=(r,))),
                  ROUTE_CHANGES),
    m.Rule: Site(lambda c: _first_instance(c).virtual_rules[0],
                 lambda c, r: _put_instance(c, dataclasses.replace(_first_instance(c), virtual_rules=(r,))),
                 RULE_CHANGES),
}

#: fields whose effect is that the daemon refuses the configuration (it cannot honour them)
REFUSED = {(m.Route, "options"), (m.Rule, "options")}


def _changed(value: object, name: str, table: dict[str, Callable[[Any], object]], owner: object) -> object:
    """The changed value of field ``name``: from ``table``, else the flip of a bool / the current number + 1."""
    if name in table:
        return table[name](owner)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    raise AssertionError(f"no change known for {type(owner).__name__}.{name} = {value!r}: add one to the table")


def _with_field(cfg: m.KeepalivedConfig, cls: type, name: str) -> m.KeepalivedConfig:
    site = SITES[cls]
    obj = site.get(cfg)
    value = _changed(getattr(obj, name), name, site.changes, obj)
    assert value != getattr(obj, name)
    return site.put(cfg, dataclasses.replace(obj, **{name: value}))


def _cases(kind: str) -> list[Any]:
    return [pytest.param(use.model, name, id=f"{use.model.__name__}.{name}")
            for use in FIELD_USE for name in sorted(getattr(use, kind))]


@pytest.mark.parametrize("use", FIELD_USE, ids=lambda u: u.model.__name__)
def test_every_field_is_consumed_resolved_or_accepted_without_effect_with_a_reason(use: Any) -> None:
    names = {f.name for f in dataclasses.fields(use.model)}
    groups = [set(use.consumed), set(use.resolved), set(use.without_effect)]
    assert set().union(*groups) == names, (
        f"{use.model.__name__}: not covered {sorted(names - set().union(*groups))}, "
        f"no such field {sorted(set().union(*groups) - names)}"
    )
    assert sum(len(g) for g in groups) == len(names), f"{use.model.__name__}: a field is listed twice"
    assert all(len(why) > 20 for why in use.without_effect.values()), "each field without effect needs a reason"
    instance_fields = {f.name for f in dataclasses.fields(m.VrrpInstance)}
    assert set(use.resolved.values()) <= instance_fields


def test_the_base_configuration_runs(base: m.KeepalivedConfig) -> None:
    assert not observe(base).startswith("refused"), observe(base)


def test_every_covered_model_class_has_a_site_in_the_base_configuration(base: m.KeepalivedConfig) -> None:
    assert {use.model for use in FIELD_USE} == set(SITES)
    for cls, site in SITES.items():
        assert isinstance(site.get(base), cls)


@pytest.mark.parametrize(("cls", "name"), _cases("consumed"))
def test_each_consumed_field_changes_what_runs(base: m.KeepalivedConfig, cls: type, name: str) -> None:
    changed = observe(_with_field(base, cls, name))
    assert changed != observe(base)
    assert changed.startswith("refused") == ((cls, name) in REFUSED), changed


@pytest.mark.parametrize(("cls", "name"), _cases("without_effect"))
def test_each_field_without_effect_changes_nothing(base: m.KeepalivedConfig, cls: type, name: str) -> None:
    assert observe(_with_field(base, cls, name)) == observe(base)


@pytest.mark.parametrize("name", sorted(GLOBAL_FIELDS.resolved))
def test_each_resolved_global_sets_its_instance_field(tmp_path: Path, name: str) -> None:
    target = GLOBAL_FIELDS.resolved[name]
    line, value = GLOBAL_TEXT[name]
    (plain,) = _load(tmp_path, MINIMAL).vrrp_instances
    (resolved,) = _load(tmp_path, f"global_defs {{\n  {line}\n}}\n" + MINIMAL).vrrp_instances
    assert getattr(plain, target) != value and getattr(resolved, target) == value


# The instance fields the sans-IO router itself acts on: each must change the RouterConfig, not only the
# settings beside it (how higher_prio_send_advert and garp_lower_prio_repeat once stopped short of the router).
ROUTER_FIELDS = ("virtual_router_id", "priority", "advert_int", "version", "nopreempt", "preempt_delay", "accept",
                 "virtual_ipaddress", "unicast_peer", "auth_type", "auth_pass", "track_interface", "track_script",
                 "track_file", "track_process", "dont_track_primary", "down_timer_adverts", "garp_master_repeat",
                 "lower_prio_no_advert", "higher_prio_send_advert", "garp_lower_prio_repeat", "garp_lower_prio_delay",
                 "name")


def _router(cfg: m.KeepalivedConfig) -> object:
    inst = build_settings(cfg).instances[0]
    return inst.router_config(IPv4Address("10.0.0.2"))


@pytest.mark.parametrize("name", ROUTER_FIELDS)
def test_each_router_field_reaches_the_router_config(base: m.KeepalivedConfig, name: str) -> None:
    assert _router(_with_field(base, m.VrrpInstance, name)) != _router(base)
