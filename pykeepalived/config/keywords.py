"""Keywords keepalived 2.2.7 accepts that the model keeps verbatim (``extra``) rather than field by field.

Lists from keepalived.conf(5) and keepalived's parsers (global_parser.c, vrrp_parser.c, check_parser.c).
Anything not here and not modelled is an unknown keyword: a warning with file:line, then skipped.
"""

from __future__ import annotations

TOP_EXTRA = (
    "net_namespace", "net_namespace_ipvs", "namespace_with_ipsets", "instance", "use_pid_dir",
    "linkbeat_use_polling", "child_wait_time", "interface_up_down_delays",
)

GLOBAL_EXTRA = (
    "no_email_faults", "no_checker_emails", "checker_log_all_failures", "startup_script",
    "startup_script_timeout", "shutdown_script", "shutdown_script_timeout", "use_symlink_paths",
    "set_supplementary_groups", "vrrp_garp_extra_if", "v3_checksum_as_v2", "nftables", "nftables_priority",
    "nftables_counters", "nftables_ifindex", "nftables_ipvs", "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark", "vrrp_iptables", "vrrp_ipsets", "disable_local_igmp", "vrrp_delay_after_boot",
    "log_unknown_vrids", "vmac_prefix", "vmac_addr_prefix", "vrrp_owner_ignore_adverts", "vrrp_vmac_garp_intvl",
    "lvs_flush_on_stop", "lvs_flush_onstop", "notify_fifo", "notify_fifo_script", "vrrp_notify_fifo",
    "vrrp_notify_fifo_script", "vrrp_notify_priority_changes", "lvs_notify_fifo", "lvs_notify_fifo_script",
    "fifo_write_vrrp_states_on_reload", "rs_init_notifies", "vrrp_priority", "checker_priority", "bfd_priority",
    "vrrp_no_swap", "checker_no_swap", "bfd_no_swap", "vrrp_cpu_affinity", "checker_cpu_affinity",
    "bfd_cpu_affinity", "vrrp_rt_priority", "checker_rt_priority", "bfd_rt_priority", "vrrp_rlimit_rttime",
    "checker_rlimit_rttime", "bfd_rlimit_rttime", "vrrp_rlimit_rtime", "checker_rlimit_rtime",
    "bfd_rlimit_rtime", "min_auto_priority_delay", "process_names", "process_name", "vrrp_process_name",
    "checker_process_name", "bfd_process_name", "umask", "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force", "vrrp_netlink_monitor_rcv_bufs", "vrrp_netlink_monitor_rcv_bufs_force",
    "lvs_netlink_cmd_rcv_bufs", "lvs_netlink_cmd_rcv_bufs_force", "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force", "process_monitor_rcv_bufs", "process_monitor_rcv_bufs_force",
    "vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier", "snmp_socket", "enable_snmp_vrrp", "enable_snmp_checker",
    "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_traps", "enable_snmp_keepalived",
    "snmp_vs_stats_update_interval", "snmp_rs_stats_update_interval", "enable_dbus", "dbus_service_name",
    "dbus_no_interface_name", "reload_check_config", "reload_time_file", "reload_repeat", "reload_file",
    "config_save_dir", "tmp_config_directory", "include_check", "data_use_instance", "state_dump_file",
    "stats_dump_file", "json_dump_file", "json_version", "iproute_usr_dir", "iproute_etc_dir",
    "lvs_sync_daemon_interface", "vrrp_lower_prio_no_advert", "linkbeat_use_polling", "net_namespace",
    "net_namespace_ipvs", "namespace_with_ipsets", "instance", "use_pid_dir", "child_wait_time",
    "smtp_alert_bfd", "vrrp_mcast_group4", "vrrp_garp_extra_if", "vrrp_strict", "vrrp_iptables",
)

INSTANCE_EXTRA = (
    "native_ipv6", "no_virtual_ipaddress", "promote_secondaries", "check_unicast_src", "unicast_fault_no_peer",
    "track_src_ip", "vrf", "old_unicast_checksum", "v3_checksum_as_v2", "auth_hmac", "use_vmac_addr",
    "use_ipvlan", "track_bfd", "linkbeat_use_polling", "garp_extra_if", "vmac_garp_intvl",
    "timer_expired_backup", "thread_timer_expired", "owner_ignore_adverts", "kernel_rx_buf_size", "debug",
    "notify_script_timeout",
)

VS_EXTRA = ("snmp_name", "ip_family", "weight", "sorry_server_lvs_method")

# Keywords the model accepts (they are in keepalived.conf(5) of keepalived 2.4) that Debian's
# keepalived 2.2.7 reports as "Unknown keyword" in that block (found by running `keepalived -t` on each).
# We keep the value but warn, so `pykeepalived -t` gives the verdict the installed keepalived gives.
NOT_IN_2_2_7: dict[str, frozenset[str]] = {
    "global_defs": frozenset({
        "child_wait_time", "dbus_no_interface_name", "instance", "iproute_etc_dir", "iproute_usr_dir",
        "json_dump_file", "json_version", "linkbeat_use_polling", "lvs_sync_daemon_interface",
        "namespace_with_ipsets", "net_namespace", "net_namespace_ipvs", "set_supplementary_groups",
        "smtp_alert_bfd", "snmp_rs_stats_update_interval", "snmp_vs_stats_update_interval", "state_dump_file",
        "stats_dump_file", "use_pid_dir", "use_symlink_paths", "v3_checksum_as_v2", "vrrp_delay_after_boot",
        "vrrp_ipsets", "vrrp_owner_ignore_adverts"}),
    "vrrp_instance": frozenset({
        "auth_hmac", "no_virtual_ipaddress", "notify_script_timeout", "owner_ignore_adverts",
        "thread_timer_expired", "timer_expired_backup", "v3_checksum_as_v2"}),
    "HTTP_GET": frozenset({"sni_name", "tls_compliant"}),
    "FILE_CHECK": frozenset({"delay_loop", "dynamic", "file"}),
    "BFD_CHECK": frozenset({"weight"}),
    "vrrp_sync_group": frozenset({"notify_deleted", "notify_master_rx_lower_pri"}),
}
