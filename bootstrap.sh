#!/usr/bin/env bash
# Set up pykeepalived on a fresh Debian 12 machine, as root: system packages, then a virtualenv in .venv
# with the project installed (editable) and its test extra. Idempotent: a second run installs nothing new.
# Usage: bash bootstrap.sh            (set-up only)
#        bash bootstrap.sh --quiet    (say less)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1

say() { [ "$quiet" = 1 ] || printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

# System packages the project needs: netns/veth/bridge tooling, nftables (loss injection), keepalived and
# ipvsadm (real peers), user-mode-linux (an IPVS kernel when the host has none), tcpdump, ping (mn pingall on
# the mn --custom topology), systemd (booted as PID 1 of a throwaway box to run the units), strace (IPVS writes
# counted from outside in bench/bench_reload.py), python venv.
packages=(iproute2 nftables kmod procps psmisc keepalived ipvsadm user-mode-linux tcpdump bridge-utils mininet curl
          iputils-ping systemd strace
          python3 python3-venv python3-dev)

[ "$(id -u)" = 0 ] || die "run as root (the lab creates network namespaces and installs Debian packages)"
command -v dpkg-query >/dev/null || die "this script expects Debian 12 (dpkg-query not found)"

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed (is a Debian mirror reachable?)"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/pykeepalived-apt.log 2>&1 \
        || { tail -20 /tmp/pykeepalived-apt.log >&2; die "apt-get install failed; log in /tmp/pykeepalived-apt.log"; }
    # Debian starts keepalived.service on install; the lab runs its own instances, never the system one.
    if command -v systemctl >/dev/null && systemctl is-active --quiet keepalived 2>/dev/null; then
        systemctl disable --now keepalived >/dev/null 2>&1 || true
    fi
else
    say "Debian packages: all present"
fi
pkill -x -f '/usr/sbin/keepalived' 2>/dev/null || true   # a system keepalived started by the package, if any

py=/usr/bin/python3
[ -x "$py" ] || die "/usr/bin/python3 missing after package install"
if [ ! -x "$venv/bin/python" ]; then
    say "creating virtualenv $venv"
    "$py" -m venv "$venv" || die "python3 -m venv failed (package python3-venv)"
fi
stamp="$venv/.installed"
if [ ! -f "$stamp" ] || [ "$here/pyproject.toml" -nt "$stamp" ]; then
    say "installing pykeepalived (editable) with its test extra into .venv"
    "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null || die "pip upgrade failed (is PyPI reachable?)"
    "$venv/bin/python" -m pip install -q -e "$here[test]" || die "pip install -e .[test] failed"
    touch "$stamp"
else
    say "virtualenv: up to date"
fi
say "ready: $venv/bin/pykeepalived, $venv/bin/netns-lab"
