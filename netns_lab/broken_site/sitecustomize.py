"""Loaded by every interpreter the broken daemon starts (its directory is put first on PYTHONPATH): our daemon's
children are new interpreters (``python -m pykeepalived.daemon.child``), so the patch must reach them too."""

from netns_lab.broken_daemon import patch

patch()
