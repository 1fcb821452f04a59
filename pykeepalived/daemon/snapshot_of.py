"""Build ``InstanceSnapshot`` values from the VRRP process's run-time objects (settings + sans-IO router).

Why a separate module: ``snapshot`` is plain data that formatters, metrics and tests use without any daemon; this
is the one place that knows where each value lives in the running daemon (``InstanceSettings``, ``VirtualRouter``,
the transition log), so the daemon's ``snapshot()`` is one call per instance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pykeepalived.daemon.settings import InstanceSettings
from pykeepalived.daemon.snapshot import GlobalSnapshot, InstanceSnapshot, TrackedSnapshot, VipSnapshot, VrrpCounters
from vrrp.core.packet import AUTH_AH, AUTH_PASS
from vrrp.core.router import VirtualRouter
from vrrp.core.state import State
from vrrp.io.addresses import SCOPES, VirtualAddress
from vrrp.io.notify import NotifyScripts

#: keepalived prints /etc/iproute2/rt_scopes' names; "global" for 0 (which "universe" also names).
_SCOPE_NAMES = {**{number: name for name, number in SCOPES.items()}, 0: "global"}

#: keepalived.json's script keys (vrrp_json.c) and where our NotifyScripts keeps each.
_SCRIPT_KEYS = (
    ("script_backup", "backup"), ("script_master", "master"), ("script_fault", "fault"), ("script_stop", "stop"),
    ("script_deleted", "deleted"), ("script", "generic"), ("script_master_rx_lower_pri", "master_rx_lower_pri"),
)


def vip_snapshot(va: VirtualAddress, *, is_set: bool) -> VipSnapshot:
    """A configured VIP as the dumps print it (``is_set``: it is on the interface now)."""
    return VipSnapshot(str(va.address), va.dev, scope=_SCOPE_NAMES.get(va.scope, str(va.scope)), label=va.label,
                       is_set=is_set)


def _scripts(notify: NotifyScripts) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for key, attr in _SCRIPT_KEYS:
        script = getattr(notify, attr)
        if script is not None:
            out.append((key, " ".join(script.argv)))
    return tuple(out)


def _tracked(s: InstanceSettings, names: Mapping[str, str],
             commands: Mapping[str, str] | None = None) -> tuple[TrackedSnapshot, ...]:
    """``names`` maps the configured name to the router's tracker name (InstanceSettings.tracked_*)."""
    trackers = {t.name: t for t in s.trackers}
    out = []
    for name, tracker_name in names.items():
        t = trackers.get(tracker_name)
        out.append(TrackedSnapshot(name, t.weight if t else 0, t.reverse if t else False,
                                   (commands or {}).get(name)))
    return tuple(out)


def instance_snapshot(
    s: InstanceSettings,
    router: VirtualRouter,
    *,
    source: object,
    transitions: Iterable[tuple[float, str, str, str]] = (),
    release_master: int = 0,
    sync_group: str | None = None,
    g: GlobalSnapshot | None = None,
    ifindex: int = 0,
    script_commands: Mapping[str, str] | None = None,
) -> InstanceSnapshot:
    """One instance now.  ``transitions`` is the daemon's (wall time, from, to, reason) log (its last entry gives
    ``last_transition``); ``release_master`` the daemon's count of transitions out of MASTER (the log is bounded,
    so it cannot be counted from it); ``g`` supplies the global GARP settings keepalived's dumps repeat per
    instance; ``script_commands`` maps a vrrp_script's name to its command line (for keepalived.json)."""
    g = g or GlobalSnapshot()
    state = router.state
    vips_set = state is State.MASTER
    last = 0.0
    for when, *_ in transitions:
        last = when
    return InstanceSnapshot(
        name=s.name,
        state=state,
        vrid=s.vrid,
        interface=s.interface,
        ifindex=ifindex,
        version=s.version,
        family=s.family,
        base_priority=router.base_priority,
        effective_priority=router.effective_priority,
        advert_int=s.advert_int_cs / 100,
        master_adver_int=router.master_adver_interval_cs / 100,
        source_ip=str(source),
        sync_group=sync_group,
        nopreempt=not s.preempt,
        preempt_delay=s.preempt_delay_us / 1_000_000,
        accept=s.accept,
        auth_type=1 if s.auth_type == AUTH_PASS else 2 if s.auth_type == AUTH_AH else 0,
        auth_data=s.auth_pass.rstrip(b"\0").decode(errors="replace"),
        vips=tuple(vip_snapshot(v, is_set=vips_set) for v in s.vips),
        evips=tuple(vip_snapshot(v, is_set=vips_set) for v in s.excluded_vips),
        unicast_peers=tuple(str(p) for p in s.unicast_peers),
        track_interfaces=_tracked(s, s.tracked_interfaces),
        track_scripts=_tracked(s, s.tracked_scripts, script_commands),
        scripts=_scripts(s.notify),
        vmac_ifname=s.interface if s.vmac is not None else "",
        garp_delay=s.garp.delay,
        garp_rep=s.garp.repeat,
        garp_refresh=s.garp.refresh,
        garp_refresh_rep=s.garp.refresh_repeat,
        garp_lower_prio_delay=g.garp_lower_prio_delay,
        garp_lower_prio_rep=g.garp_lower_prio_rep,
        down_timer_adverts=s.down_timer_adverts,
        lower_prio_no_advert=s.lower_prio_no_advert,
        higher_prio_send_advert=g.higher_prio_send_advert,
        last_transition=last,
        counters=VrrpCounters.from_router(router.stats, release_master=release_master),
    )
