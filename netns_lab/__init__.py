"""netns_lab: run the daemon unchanged in Linux network namespaces and script failures against it."""
