"""VRRP stack: packet codec, sans-IO virtual router, sync groups, trackers and the asyncio I/O shell."""
