"""Sans-IO health-check logic: specs, the per-check retry state machine, the scheduler, the real-server pool.

Nothing here does I/O or reads a clock: every entry point takes an explicit ``now`` and returns actions.
"""
