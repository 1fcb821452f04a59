"""IPVS wrapper: service/destination model, kernel and memory backends, minimal-diff sync, ipvsadm formats.

Public entry points::

    from ipvs.model import Service, ServiceKey, Destination, DesiredService, Forward, TunType
    from ipvs.netlink import KernelBackend      # the kernel table of a network namespace (None = ours)
    from ipvs.memory import MemoryBackend       # same interface, kernel semantics, in a dict (the oracle)
    from ipvs.sync import SyncEngine, SyncPolicy, plan_sync
    from ipvs.formats import format_list, format_save
    from ipvs.errors import IPVSError

The package imports nothing from vrrp, checkers, pykeepalived or netns_lab.
"""
