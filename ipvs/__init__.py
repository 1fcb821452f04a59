"""IPVS wrapper: service/destination model, kernel and memory backends, minimal-diff sync, ipvsadm formats."""
