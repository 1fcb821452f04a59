"""Virtual-router states, transition reasons and the explicit transition table.

The states are RFC 9568's Initialize / Backup / Active ("Master"; we keep keepalived's and RFC 5798's name)
plus keepalived's FAULT (a weight-0 tracker failed: the instance neither advertises nor listens).
``TRANSITIONS`` lists every legal (old, new) pair; the router checks each transition against it so an illegal
move is a bug that fails loudly in tests rather than a silently wrong state.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    """VRRP instance state (keepalived's INIT/BACKUP/MASTER/FAULT)."""

    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"


class TransitionReason(enum.Enum):
    """Why a transition happened.

    ``MASTER_NO_RESPONSE``, ``PRIORITY`` and ``PREEMPTED`` are RFC 6527's vrrpv3OperationsNewMasterReason
    values (masterNoResponse / priority / preempted); the rest are the other causes a transition can have.
    """

    STARTUP = "startup"
    OWNER = "owner"  # priority 255 goes straight to Master (RFC 9568 §6.4.1)
    MASTER_NO_RESPONSE = "master_no_response"  # Master_Down_Timer fired
    PRIORITY_ZERO = "priority_zero"  # Master_Down_Timer fired after a priority-0 advert (Skew_Time takeover)
    PREEMPTED = "preempted"  # we preempted a lower-priority Master (down timer after discarding its adverts)
    PRIORITY = "priority"  # a higher-priority (or tie-break winning) advert made us Backup
    SHUTDOWN = "shutdown"
    FAULT = "fault"  # a weight-0 tracker failed
    FAULT_CLEARED = "fault_cleared"
    SYNC_GROUP = "sync_group"  # moved by a sync-group peer


#: Every legal (old, new) pair.  INIT -> MASTER only for the owner; anything -> INIT is shutdown.
TRANSITIONS: frozenset[tuple[State, State]] = frozenset(
    {
        (State.INIT, State.BACKUP),
        (State.INIT, State.MASTER),
        (State.INIT, State.FAULT),
        (State.BACKUP, State.MASTER),
        (State.BACKUP, State.FAULT),
        (State.BACKUP, State.INIT),
        (State.MASTER, State.BACKUP),
        (State.MASTER, State.FAULT),
        (State.MASTER, State.INIT),
        (State.FAULT, State.BACKUP),
        (State.FAULT, State.MASTER),
        (State.FAULT, State.INIT),
    }
)


class IllegalTransition(RuntimeError):
    """Raised when the router attempts a transition missing from TRANSITIONS (a bug, never bad input)."""
