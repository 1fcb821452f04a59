"""The sans-IO VRRP core: codec and checksum, states, timers, tracking weights, the virtual router, sync groups.

Nothing here does I/O or reads a clock: every entry point takes ``now`` (integer microseconds) and returns
actions.  A test (tests/unit/test_imports.py) keeps asyncio, pyroute2, subprocess, socket I/O and threading out.
"""
