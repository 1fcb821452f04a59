"""The sans-IO VRRP virtual router (RFC 9568 §6 for v3, RFC 3768 for v2, plus keepalived's extensions).

Like h11's ``Connection`` or aioquic's ``QuicConnection`` it owns no socket, clock or task: every event
carries an explicit ``now`` (integer microseconds on any monotonic scale) and returns the list of actions to
carry out, in order; ``get_timer()`` says when ``handle_timer`` must next be called.  The same object runs in
the daemon, in the simulator and in unit tests, which is what makes the simulator's verdicts say something
about the daemon.

Events::

    start(now)                                   Startup (§6.4.1)
    shutdown(now)                                Shutdown (§6.4.2 / §6.4.3)
    receive_advertisement(adv, src=, ttl=, now=[, dst=])  a decoded advert (vrrp.core.packet.Advertisement)
    receive_packet(data, src=, dst=, ttl=, now=)  raw VRRP message: decoded here, codec errors counted
    receive_verdict(adv, src=, ttl=, now=[, dst=])  as receive_advertisement, plus the discard reason (or None)
    handle_timer(now)                            Master_Down_Timer or Adver_Timer fired
    set_priority(p, now)                         base priority changed (reload, tests)
    set_tracker_state(name, up, now)             a tracker changed (keepalived's weighted tracking)
    set_tracker_value(name, value, now)          a track_file value changed

Which handler runs for which (state, event) is spelled out in ``_ADVERT_HANDLERS`` / ``_TIMER_HANDLERS``;
every transition is checked against ``vrrp.core.state.TRANSITIONS``.

A discarded packet is counted in ``stats.discards`` under its ``vrrp.core.packet.Reason`` and changes nothing else
(RFC 9568 §7.1: a discard is a no-op for the state machine).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from vrrp.core.actions import (
    Action,
    AddVips,
    IPAddress,
    ReceivedLowerPriority,
    RemoveVips,
    SendAdvertisement,
    SendGratuitous,
    StateChanged,
)
from vrrp.core.config import RouterConfig
from vrrp.core.packet import Advertisement, PacketError, Reason, check_v2_auth, decode
from vrrp.core.state import TRANSITIONS, IllegalTransition, State, TransitionReason
from vrrp.core.timers import cs_to_us, master_down_interval_us, skew_time_us
from vrrp.core.tracking import PRIORITY_OWNER, TrackerSet

#: The TTL / Hop Limit every advertisement must carry (RFC 9568 §5.1.1.3, §5.1.2.3).
VRRP_TTL = 255


@dataclass
class RouterStats:
    """Counters after RFC 6527 (VRRPv3-MIB) and RFC 2787.

    ``discards`` maps ``Reason`` values (codec and router reasons alike) to counts.  ``address_list_mismatch``
    counts v3 adverts whose list differs from ours: RFC 9568 only asks to log those, so they are not
    discarded.
    """

    adverts_received: int = 0
    adverts_sent: int = 0
    rcvd_pri_zero: int = 0
    sent_pri_zero: int = 0
    master_transitions: int = 0
    new_master_reason: TransitionReason | None = None
    address_list_mismatch: int = 0
    discards: dict[str, int] = field(default_factory=dict)

    def discard(self, reason: Reason) -> None:
        """Count one discarded packet."""
        self.discards[reason.value] = self.discards.get(reason.value, 0) + 1


@dataclass(frozen=True)
class Snapshot:
    """Everything that decides the router's future behaviour (counters excluded); equal snapshots before and
    after a discarded packet prove the discard was a no-op."""

    state: State
    timer: int | None
    master_adver_interval_cs: int
    effective_priority: int | None
    preempt_time: int | None
    want_master: bool
    # Why a running Master_Down_Timer will fire (the reason the takeover reports) and the sync-group hold:
    # a discard must not change these either.
    after_prio0: bool
    preempting: bool
    group_fault: bool


#: Called when a sync-group member's Master_Down_Timer fires: may it become Master now?  (see sync_group.py)
SyncGate = Callable[["VirtualRouter"], bool]


class VirtualRouter:
    """One VRRP instance as a pure state machine.  See the module docstring for the event API."""

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.stats = RouterStats()
        self._state = State.INIT
        self._timer: int | None = None
        self._base_priority = config.priority
        self._trackers = TrackerSet(config.trackers)
        self._effective: int | None = self._trackers.effective_priority(self._base_priority)
        self._mai_cs = config.advert_int_cs
        # keepalived preempt_delay: when the first lower-priority advert was seen + delay (None: not started;
        # a higher- or equal-priority advert cancels it, so a returning lower Master starts it afresh).
        self._preempt_time: int | None = None
        # Why the running Master_Down_Timer will fire: a priority-0 advert, or we discarded lower-priority
        # adverts (preemption).
        self._after_prio0 = False
        self._preempting = False
        # Sync groups (vrrp/core/sync_group.py): our down timer expired and we wait for the others; forced FAULT.
        self._want_master = False
        self._group_fault = False
        self.sync_gate: SyncGate | None = None
        # Hot-path caches (the simulator calls receive_* ~10^5 times per second): immutable config facts and
        # the last Master_Down_Interval computed, keyed by what it depends on.
        self._family = config.family
        self._vip_list = list(config.virtual_ipaddress)
        self._vip_set = frozenset(config.virtual_ipaddress)
        self._mdi_key: tuple[int, int] = (-1, -1)
        self._mdi_us = 0
        # The handlers of the current state, looked up in _ADVERT_HANDLERS / _TIMER_HANDLERS on each transition
        # (Enum hashing is slow in CPython 3.11, and packets outnumber transitions by far).
        self._on_advert: _AdvertHandler | None = None
        self._on_timer: _TimerHandler | None = None

    # ------------------------------------------------------------------ read-only views

    @property
    def state(self) -> State:
        """Current state."""
        return self._state

    @property
    def name(self) -> str:
        """Instance name."""
        return self.config.name

    @property
    def vrid(self) -> int:
        """Virtual Router ID."""
        return self.config.vrid

    @property
    def effective_priority(self) -> int:
        """Priority we advertise: base plus tracker weights (0 while faulted)."""
        return self._effective if self._effective is not None else 0

    @property
    def base_priority(self) -> int:
        """Configured priority (changed by ``set_priority``)."""
        return self._base_priority

    @property
    def master_adver_interval_cs(self) -> int:
        """Master_Adver_Interval: ours as Master, learned from the Master as v3 Backup."""
        return self._mai_cs

    @property
    def want_master(self) -> bool:
        """A sync-group member whose down timer fired but whose group is not ready yet."""
        return self._want_master

    @property
    def own_fault(self) -> bool:
        """Our own trackers put us in FAULT (a weight-0 tracker is down)."""
        return self._effective is None

    @property
    def held_in_fault(self) -> bool:
        """Our sync group holds us in FAULT (see ``force_state`` / ``release_fault``)."""
        return self._group_fault

    @property
    def holds_vips(self) -> bool:
        """True while the VIPs are installed (exactly while Master)."""
        return self._state is State.MASTER

    def get_timer(self) -> int | None:
        """Absolute time (µs) at which ``handle_timer`` must be called, or None."""
        return self._timer

    def skew_time_us(self) -> int:
        """Skew_Time for our effective priority and the current Master_Adver_Interval."""
        return skew_time_us(self.effective_priority, self._mai_cs, version=self.config.version)

    def master_down_interval_us(self) -> int:
        """Master_Down_Interval for our effective priority (v2: the local interval)."""
        key = (self.effective_priority, self._mai_cs)
        if key != self._mdi_key:
            self._mdi_key = key
            self._mdi_us = master_down_interval_us(
                key[0], key[1], version=self.config.version, down_timer_adverts=self.config.down_timer_adverts
            )
        return self._mdi_us

    def snapshot(self) -> Snapshot:
        """The behaviour-determining state, for "a discard is a no-op" checks."""
        return Snapshot(
            self._state,
            self._timer,
            self._mai_cs,
            self._effective,
            self._preempt_time,
            self._want_master,
            self._after_prio0,
            self._preempting,
            self._group_fault,
        )

    # ------------------------------------------------------------------ lifecycle events

    def start(self, now: int) -> list[Action]:
        """Startup event (RFC 9568 §6.4.1): the owner becomes Master at once, others Backup."""
        if self._state is not State.INIT:
            raise RuntimeError(f"{self.name}: start() in state {self._state.value}; call shutdown() first")
        self._mai_cs = self.config.advert_int_cs
        if self._faulted():
            return self._transition(State.FAULT, TransitionReason.FAULT, now)
        if self._is_owner():
            return self._transition(State.MASTER, TransitionReason.OWNER, now)
        return self._transition(State.BACKUP, TransitionReason.STARTUP, now)

    def shutdown(self, now: int) -> list[Action]:
        """Shutdown event: a Master sends priority 0 and removes its VIPs; every state goes to INIT."""
        if self._state is State.INIT:
            return []
        return self._transition(State.INIT, TransitionReason.SHUTDOWN, now)

    # ------------------------------------------------------------------ packets

    def receive_packet(self, data: bytes, *, src: IPAddress, dst: IPAddress, ttl: int, now: int) -> list[Action]:
        """Decode a raw VRRP message sent to ``dst`` and handle it; codec rejections are counted like any other
        discard."""
        try:
            adv = decode(data, family=self.config.family, src=src, dst=dst)
        except PacketError as exc:
            self.stats.discard(exc.reason)
            return []
        return self.receive_advertisement(adv, src=src, ttl=ttl, now=now, dst=dst)

    def receive_advertisement(
        self, adv: Advertisement, *, src: IPAddress, ttl: int, now: int, dst: IPAddress | None = None
    ) -> list[Action]:
        """Handle a decoded advertisement from ``src`` received with IP TTL / Hop Limit ``ttl``.

        ``dst``, the packet's destination, when known: a multicast instance discards adverts sent to a unicast
        address and a unicast instance those sent to a multicast group (keepalived's receive check).
        """
        return self.receive_verdict(adv, src=src, ttl=ttl, now=now, dst=dst)[1]

    def receive_verdict(
        self, adv: Advertisement, *, src: IPAddress, ttl: int, now: int, dst: IPAddress | None = None
    ) -> tuple[Reason | None, list[Action]]:
        """``receive_advertisement`` that also says why the advert was discarded (None: it was accepted), so a
        host (vrrp.core.host) reports the reason it was counted under without diffing counters."""
        reason = self._validate(adv, src, ttl, dst)
        if reason is not None:
            self.stats.discard(reason)
            return reason, []
        self.stats.adverts_received += 1
        if adv.priority == 0:
            self.stats.rcvd_pri_zero += 1
        if self.config.owner_ignore_adverts and self._is_owner():
            return None, []
        handler = self._on_advert
        if handler is None:  # INIT and FAULT do not listen
            return None, []
        return None, handler(self, adv, src, now)

    def _validate(self, adv: Advertisement, src: IPAddress, ttl: int, dst: IPAddress | None) -> Reason | None:
        """The receive checks that need configuration (RFC 9568 §7.1, RFC 3768 §7.1); None means accept."""
        cfg = self.config
        if ttl != VRRP_TTL and not cfg.unicast_peer:
            # keepalived checks the TTL only for multicast: a unicast peer may sit behind routers, and its
            # adverts arrive with whatever ``unicast_ttl`` it sent minus the hops (vrrp.c vrrp_check_packet)
            return Reason.TTL
        if adv.version != cfg.version:
            return Reason.VERSION
        if adv.vrid != cfg.vrid:
            return Reason.VRID
        family = self._family
        if src.version != family:
            return Reason.ADDRESS_LIST
        for a in adv.addresses:
            if a.version != family:
                return Reason.ADDRESS_LIST
        if dst is not None and dst.is_multicast == bool(cfg.unicast_peer):
            # keepalived 2.2.7 (vrrp_check_packet): "Expected multicast packet but received unicast packet" and
            # the reverse, counted as an address list error.
            return Reason.ADDRESS_LIST
        if cfg.unicast_peer and src not in cfg.unicast_peer:
            return Reason.UNICAST_PEER
        if adv.interval_cs <= 0:
            return Reason.INTERVAL
        if cfg.version == 2:
            if self._is_owner():
                return Reason.OWNER  # RFC 3768 §7.1 MUST (RFC 9568 erratum 8298 relaxes v3 to SHOULD log)
            try:  # the one v2 authentication check (constant-time PASS compare), the codec's
                check_v2_auth(adv, auth_type=cfg.auth_type, auth_data=cfg.auth_pass)
            except PacketError as exc:
                return exc.reason
            if adv.interval_cs != cfg.advert_int_cs:
                return Reason.INTERVAL  # RFC 3768 §7.1 MUST; keepalived: "advertisement interval mismatch"
            if cfg.check_vip_list and adv.priority != PRIORITY_OWNER and not self._same_vips(adv.addresses):
                return Reason.ADDRESS_LIST  # RFC 3768 §7.1: MUST drop unless the sender is the owner
        elif not self._same_vips(adv.addresses):
            self.stats.address_list_mismatch += 1  # RFC 9568 §7.1: MAY check, SHOULD log only
        return None

    def _same_vips(self, addresses: list[IPAddress]) -> bool:
        """The advertised list holds exactly our VIPs (in any order); the common same-order case is cheap."""
        return addresses == self._vip_list or frozenset(addresses) == self._vip_set

    def _advert_in_backup(self, adv: Advertisement, src: IPAddress, now: int) -> list[Action]:
        """RFC 9568 §6.4.2 (425–470) plus keepalived's ``preempt_delay``."""
        if adv.priority == 0:
            self._timer = now + self.skew_time_us()
            self._after_prio0 = True
            return []
        mine = self.effective_priority
        accept = not self.config.preempt or adv.priority >= mine
        if not accept and self.config.preempt_delay_us:
            if self._preempt_time is None:
                self._preempt_time = now + self.config.preempt_delay_us
            accept = now < self._preempt_time
        if not accept:
            self._preempting = True  # discard: the timer keeps running and we preempt when it fires (470)
            return []
        if adv.priority >= mine:
            # keepalived ("stop preempt delay"): a higher- or equal-priority Master cancels the delay, so a
            # lower Master that returns later gets the full preempt_delay again (measured against keepalived
            # 2.2.7 in tests/interop/test_interop_preempt_delay.py).
            self._preempt_time = None
        if self.config.version == 3:
            self._mai_cs = adv.interval_cs
        self._timer = now + self.master_down_interval_us()
        self._after_prio0 = False
        self._preempting = False
        self._want_master = False
        return []

    def _advert_in_master(self, adv: Advertisement, src: IPAddress, now: int) -> list[Action]:
        """RFC 9568 §6.4.3 (700–775)."""
        if adv.priority == 0:
            self._timer = now + cs_to_us(self.config.advert_int_cs)
            return [self._advert(self.effective_priority)]
        cfg = self.config
        mine = self.effective_priority
        if adv.priority > mine or (adv.priority == mine and int(src) > int(cfg.primary_address)):
            last_word: list[Action] = [self._advert(mine)] if cfg.higher_prio_send_advert else []
            if cfg.version == 3:
                self._mai_cs = adv.interval_cs
            return last_word + self._transition(State.BACKUP, TransitionReason.PRIORITY, now)
        out: list[Action] = []
        if not cfg.lower_prio_no_advert:
            out.append(self._advert(mine))  # RFC 9568: re-assert at once so bridges re-learn the virtual MAC
        if cfg.garp_lower_prio_repeat:
            out.append(SendGratuitous(cfg.announced_addresses, cfg.garp_lower_prio_repeat, cfg.garp_interval_us,
                                      cfg.garp_lower_prio_delay_us))  # fmt: skip
        if adv.priority < mine:  # not an equal priority losing the address tie-break
            out.append(ReceivedLowerPriority(adv.priority, src))  # keepalived: notify_master_rx_lower_pri
        return out

    # ------------------------------------------------------------------ timers

    def handle_timer(self, now: int) -> list[Action]:
        """Fire the timer if it is due; calling early (or with no timer) is a harmless no-op."""
        if self._timer is None or now < self._timer:
            return []
        handler = self._on_timer
        if handler is None:
            self._timer = None
            return []
        return handler(self, now)

    def _adver_timer_fired(self, now: int) -> list[Action]:
        """Master: send an advertisement and re-arm (685/690)."""
        self._timer = now + cs_to_us(self.config.advert_int_cs)
        return [self._advert(self.effective_priority)]

    def _down_timer_fired(self, now: int) -> list[Action]:
        """Backup: Master_Down_Timer fired (370–410) — unless our sync group is not ready yet."""
        if self.sync_gate is not None and not self.sync_gate(self):
            self._want_master = True
            self._timer = now + self.master_down_interval_us()
            return []
        if self._after_prio0:
            reason = TransitionReason.PRIORITY_ZERO
        elif self._preempting:
            reason = TransitionReason.PREEMPTED
        else:
            reason = TransitionReason.MASTER_NO_RESPONSE
        return self._transition(State.MASTER, reason, now)

    # ------------------------------------------------------------------ priority and trackers

    def set_priority(self, priority: int, now: int) -> list[Action]:
        """Change the base priority (1..255)."""
        if not 1 <= priority <= PRIORITY_OWNER:
            raise ValueError(f"{self.name}: priority must be 1..255, not {priority}")
        self._base_priority = priority
        return self._priority_changed(now)

    def set_tracker_state(self, name: str, up: bool, now: int) -> list[Action]:
        """A state tracker (interface, script, process, BFD) went up or down."""
        self._trackers.set_up(name, up)
        return self._priority_changed(now)

    def set_tracker_value(self, name: str, value: int, now: int) -> list[Action]:
        """A ``track_file`` value changed."""
        self._trackers.set_value(name, value)
        return self._priority_changed(now)

    def _priority_changed(self, now: int) -> list[Action]:
        old = self._effective
        self._effective = self._trackers.effective_priority(self._base_priority)
        if self._state is State.INIT:
            return []
        if self._faulted():
            if self._state is State.FAULT:
                return []
            return self._transition(State.FAULT, TransitionReason.FAULT, now)
        if self._state is State.FAULT:
            if self._is_owner():
                return self._transition(State.MASTER, TransitionReason.FAULT_CLEARED, now)
            return self._transition(State.BACKUP, TransitionReason.FAULT_CLEARED, now)
        if self._state is State.BACKUP and self._is_owner():
            return self._transition(State.MASTER, TransitionReason.OWNER, now)
        if self._state is State.MASTER and self._effective != old:
            # Tell the Backups now rather than at the next Adver_Timer: a Backup that now outranks us
            # starts its preemption one advert interval earlier.
            return [self._advert(self.effective_priority)]
        return []

    def replace_addresses(self, config: RouterConfig, now: int) -> list[Action]:
        """A reload changed only what this router installs (VIPs, excluded VIPs, routes, rules): take ``config``
        and, as Master, install and remove just the difference, advertise the new list at once and announce the
        new addresses.  No transition, no gap in the adverts (keepalived's reload does the same diff)."""
        old = self.config
        self.config = config
        self._vip_list = list(config.virtual_ipaddress)
        self._vip_set = frozenset(config.virtual_ipaddress)
        if self._state is not State.MASTER:
            return []
        gone = RemoveVips(
            tuple(a for a in old.virtual_ipaddress if a not in self._vip_set),
            tuple(a for a in old.install_addresses if a not in config.install_addresses),
            tuple(r for r in old.virtual_routes if r not in config.virtual_routes),
            tuple(r for r in old.virtual_rules if r not in config.virtual_rules),
        )
        added = AddVips(
            tuple(a for a in config.virtual_ipaddress if a not in old.virtual_ipaddress),
            config.accept or self._is_owner(),
            tuple(a for a in config.install_addresses if a not in old.install_addresses),
            tuple(r for r in config.virtual_routes if r not in old.virtual_routes),
            tuple(r for r in config.virtual_rules if r not in old.virtual_rules),
        )
        out: list[Action] = [self._advert(self.effective_priority)]
        if gone.install or gone.routes or gone.rules or gone.addresses:
            out.append(gone)
        if added.install or added.routes or added.rules or added.addresses:
            out.append(added)
            new = tuple(a for a in config.announced_addresses if a not in old.announced_addresses)
            if new and config.garp_master_repeat:
                out.append(SendGratuitous(new, config.garp_master_repeat, config.garp_interval_us))
        return out

    # ------------------------------------------------------------------ sync-group hooks

    def force_state(self, new: State, now: int) -> list[Action]:
        """Move with the sync group (vrrp/core/sync_group.py); a forced FAULT sticks until ``release_fault``."""
        if new is State.FAULT:
            self._group_fault = True
        if self._state is new or self._state is State.INIT:
            return []
        if self._state is State.FAULT and self._faulted():
            return []
        return self._transition(new, TransitionReason.SYNC_GROUP, now)

    def release_fault(self, now: int) -> list[Action]:
        """The sync group's fault cleared: leave FAULT unless our own trackers still fault us."""
        self._group_fault = False
        return self._priority_changed(now)

    # ------------------------------------------------------------------ internals

    def _faulted(self) -> bool:
        return self._effective is None or self._group_fault

    def _is_owner(self) -> bool:
        return self._base_priority == PRIORITY_OWNER

    def _advert(self, priority: int) -> SendAdvertisement:
        cfg = self.config
        self.stats.adverts_sent += 1
        if priority == 0:
            self.stats.sent_pri_zero += 1
        return SendAdvertisement(
            vrid=cfg.vrid,
            priority=priority,
            interval_cs=cfg.advert_int_cs,
            addresses=cfg.virtual_ipaddress,
            version=cfg.version,
            auth_type=cfg.auth_type if cfg.version == 2 else 0,
            auth_data=cfg.auth_data if cfg.version == 2 else b"",
            checksum_form=cfg.checksum_form,
        )

    def _transition(self, new: State, reason: TransitionReason, now: int) -> list[Action]:
        """Leave the old state, enter ``new``; returns the actions in the order the shell must apply them."""
        old = self._state
        if (old, new) not in TRANSITIONS:
            raise IllegalTransition(f"{self.name}: {old.value} -> {new.value} ({reason.value})")
        cfg = self.config
        actions: list[Action] = [StateChanged(old, new, reason, self.effective_priority)]
        if old is State.MASTER:
            if new is not State.BACKUP:
                actions.append(self._advert(0))  # 660–670: priority 0 so a Backup takes over after Skew_Time
            actions.append(
                RemoveVips(cfg.virtual_ipaddress, cfg.install_addresses, cfg.virtual_routes, cfg.virtual_rules)
            )
        self._state = new
        self._on_advert = _ADVERT_HANDLERS.get(new)
        self._on_timer = _TIMER_HANDLERS.get(new)
        self._after_prio0 = False
        self._preempting = False
        self._want_master = False
        if new is State.MASTER:
            self.stats.master_transitions += 1
            self.stats.new_master_reason = reason
            self._preempt_time = None
            self._mai_cs = cfg.advert_int_cs
            self._timer = now + cs_to_us(cfg.advert_int_cs)
            actions.append(self._advert(self.effective_priority))
            accept = cfg.accept or self._is_owner()
            actions.append(
                AddVips(cfg.virtual_ipaddress, accept, cfg.install_addresses, cfg.virtual_routes, cfg.virtual_rules)
            )
            if cfg.garp_master_repeat:
                actions.append(
                    SendGratuitous(
                        cfg.announced_addresses,
                        cfg.garp_master_repeat,
                        cfg.garp_interval_us,
                        cfg.garp_master_delay_us,
                        cfg.garp_master_refresh_us,
                        cfg.garp_master_refresh_repeat,
                    )
                )
        elif new is State.BACKUP:
            self._timer = now + self.master_down_interval_us()
        else:  # INIT, FAULT: no timers, no adverts
            self._timer = None
            self._preempt_time = None
            self._mai_cs = cfg.advert_int_cs
        return actions


_AdvertHandler = Callable[[VirtualRouter, Advertisement, IPAddress, int], list[Action]]
_TimerHandler = Callable[[VirtualRouter, int], list[Action]]

#: Which handler an advertisement reaches in each state; states not listed (INIT, FAULT) ignore adverts.
_ADVERT_HANDLERS: dict[State, _AdvertHandler] = {
    State.BACKUP: VirtualRouter._advert_in_backup,
    State.MASTER: VirtualRouter._advert_in_master,
}
#: Which timer runs in each state: Master_Down_Timer in BACKUP, Adver_Timer in MASTER, none otherwise.
_TIMER_HANDLERS: dict[State, _TimerHandler] = {
    State.BACKUP: VirtualRouter._down_timer_fired,
    State.MASTER: VirtualRouter._adver_timer_fired,
}
