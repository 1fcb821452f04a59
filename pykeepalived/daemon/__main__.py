"""``python -m pykeepalived.daemon ARGS``: an alias of ``python -m pykeepalived ARGS``, kept for launchers that
still use it.

The daemon package never imports the command line's parser (the CLI imports the daemon), so the alias re-executes
the interpreter on the CLI module instead of calling it: same process id, same flags, same exit status.
"""

import os
import sys

from pykeepalived.sigsafe import protect_entry

protect_entry()  # ignored dispositions survive the exec: the CLI's own start is covered too
os.execv(sys.executable, [sys.executable, "-m", "pykeepalived", *sys.argv[1:]])
