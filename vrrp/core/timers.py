"""VRRP timer arithmetic in integer microseconds.

Why microseconds: RFC 9568 §6.1 defines Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256 in
centiseconds.  Computed in integer centiseconds (as FRR does) the skew at a 1 cs interval truncates to 0 for
every priority, so all Backups time out together.  keepalived keeps its timers in microseconds; so do we,
which keeps priorities one apart distinguishable even at the 1 cs minimum interval (RFC 9568 §6.1,
"integer pitfalls").

VRRPv2 (RFC 3768 §6.1) differs: Skew_Time is (256 - Priority) / 256 *seconds* whatever the interval, and
Master_Down_Interval uses the locally configured interval.
"""

from __future__ import annotations

US_PER_CS = 10_000
US_PER_S = 1_000_000

#: keepalived's ``down_timer_adverts`` default: the RFC's "3 ×" in Master_Down_Interval.
DEFAULT_DOWN_TIMER_ADVERTS = 3


def cs_to_us(centiseconds: int) -> int:
    """Convert an advertisement interval in centiseconds to microseconds."""
    return centiseconds * US_PER_CS


def skew_time_us(priority: int, master_adver_interval_cs: int, *, version: int = 3) -> int:
    """Skew_Time in µs: v3 scales with the (learned) Master_Adver_Interval, v2 is (256-P)/256 s."""
    if version == 2:
        return ((256 - priority) * US_PER_S) // 256
    return ((256 - priority) * cs_to_us(master_adver_interval_cs)) // 256


def master_down_interval_us(
    priority: int,
    master_adver_interval_cs: int,
    *,
    version: int = 3,
    down_timer_adverts: int = DEFAULT_DOWN_TIMER_ADVERTS,
) -> int:
    """Master_Down_Interval in µs = down_timer_adverts × interval + Skew_Time (RFC 9568 §6.1, RFC 3768 §6.1).

    For v2 the caller passes the *local* Advertisement_Interval (v2 never learns the Master's).
    """
    return down_timer_adverts * cs_to_us(master_adver_interval_cs) + skew_time_us(
        priority, master_adver_interval_cs, version=version
    )
