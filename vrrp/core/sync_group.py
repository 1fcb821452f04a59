"""keepalived's ``vrrp_sync_group``: instances that change state together (keepalived.conf(5), ``vrrp_sync_group``).

Typical use: one instance faces the clients, one the real servers; if only one of them moved, traffic would go
in through one director and out through the other.  The rules, as keepalived's ``vrrp_sync.c`` applies them:

* a member whose Master_Down_Timer fires becomes Master only when every other member wants to as well (their
  own timers fired, or they are Master already) — "prefer backup to avoid thrashing"; until then it stays
  Backup and re-arms its timer;
* when one member becomes Master, the others follow; when one falls back to Backup, the Masters follow;
* when one member faults, all others go to FAULT and stay there until it recovers;
* when a Master member refreshes ARP caches after a lower-priority advert (``garp_lower_prio_repeat``), the
  other Master members do too.

Like the router it is sans-IO: feed it the actions a member returned and it returns those actions plus the
ones the other members produced by moving along, each tagged with the member it belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from vrrp.core.actions import Action, SendGratuitous, StateChanged
from vrrp.core.router import VirtualRouter
from vrrp.core.state import State, TransitionReason


class SyncGroup:
    """A set of virtual routers that move between MASTER, BACKUP and FAULT together."""

    def __init__(self, name: str, members: Sequence[VirtualRouter]) -> None:
        if len({m.name for m in members}) != len(members):
            raise ValueError(f"sync group {name!r}: an instance is listed twice")
        self.name = name
        self.members = list(members)
        for m in self.members:
            if m.sync_gate is not None:
                raise ValueError(f"sync group {name!r}: instance {m.name!r} is already in a sync group")
            m.sync_gate = self._may_become_master

    def _may_become_master(self, member: VirtualRouter) -> bool:
        return all(other is member or other.state is State.MASTER or other.want_master for other in self.members)

    def _faulted_members(self) -> list[VirtualRouter]:
        """Members faulted by their own trackers (not merely held in FAULT by the group)."""
        return [m for m in self.members if m.own_fault]

    def dispatch(self, member: VirtualRouter, actions: list[Action], now: int) -> list[tuple[VirtualRouter, Action]]:
        """Apply the group rules to the actions ``member`` returned; returns every action with its member."""
        out: list[tuple[VirtualRouter, Action]] = [(member, a) for a in actions]
        for action in actions:
            if not isinstance(action, StateChanged) or action.reason is TransitionReason.SYNC_GROUP:
                continue
            out.extend(self._follow(member, action, now))
        if member.state is State.MASTER and not any(isinstance(a, StateChanged) for a in actions):
            # A Master refreshing ARP caches after a lower-priority advert (garp_lower_prio_repeat) does it for
            # the whole group, as keepalived does: the split brain hit every member's peers.
            for garp in [a for a in actions if isinstance(a, SendGratuitous)]:
                for m in self.members:
                    if m is not member and m.state is State.MASTER:
                        out.append((m, replace(garp, addresses=m.config.announced_addresses)))
        if not self._faulted_members():
            # The last own fault cleared (possibly without a transition of its own, when the group still held
            # that member in FAULT): release everyone the group was holding.
            for m in self.members:
                if m.held_in_fault:
                    out.extend((m, a) for a in m.release_fault(now))
        return out

    def _follow(self, source: VirtualRouter, change: StateChanged, now: int) -> list[tuple[VirtualRouter, Action]]:
        out: list[tuple[VirtualRouter, Action]] = []
        others = [m for m in self.members if m is not source]
        if change.new is State.FAULT:
            for m in others:
                out.extend((m, a) for a in m.force_state(State.FAULT, now))
        elif change.old is State.FAULT:
            if self._faulted_members():  # another member is still faulted on its own: back to FAULT
                out.extend((source, a) for a in source.force_state(State.FAULT, now))
            else:
                for m in others:
                    out.extend((m, a) for a in m.release_fault(now))
        elif change.new is State.MASTER:
            for m in others:
                if m.state is State.BACKUP:
                    out.extend((m, a) for a in m.force_state(State.MASTER, now))
        elif change.new is State.BACKUP and change.old is State.MASTER:
            for m in others:
                if m.state is State.MASTER:
                    out.extend((m, a) for a in m.force_state(State.BACKUP, now))
        return out
