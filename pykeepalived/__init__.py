"""pykeepalived: keepalived.conf model, daemon processes, signals, dumps and CLI."""
