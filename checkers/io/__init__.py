"""The I/O shell of the checkers: one probe per checker type (asyncio, each with a hard timeout), the asyncio
driver of :class:`checkers.core.scheduler.Scheduler`, and ``genhash``."""
