"""``python -m pykeepalived.daemon -P -n -l -f keepalived.conf``: the VRRP process with keepalived's flags."""

import sys

from pykeepalived.daemon import main

sys.exit(main())
