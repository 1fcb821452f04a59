"""The VRRP I/O shell: raw sockets, addresses/routes/rules over netlink, GARP/NA, VMACs, the netlink reflector,
scripts, notify and trackers.  It carries out what ``vrrp.core`` decides; it decides nothing about the protocol.
"""
