#!/usr/bin/env bash
# Install what a fresh Debian 12 machine lacks for tcplab's netns backend:
# the network tools the lab drives and a C compiler for the static agent.
# With --test, also what the tests use: Chromium (the HTML report is opened
# headless), python3-junitparser (a real JUnit consumer), and zsh and fish
# (the completion scripts are loaded in the real shells).
# With --vm (also implied by --test), what the vm backend needs: QEMU (whose
# qemu-system-common brings /usr/lib/qemu/virtiofsd and qboot) and kmod (the
# guests run this machine's modprobe on their own kernel's modules).
# Idempotent: installs only missing commands.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have ip        || need+=(iproute2)
have ss        || need+=(iproute2)
have iptables  || need+=(iptables)
have tcpdump   || need+=(tcpdump)
have nc        || need+=(netcat-openbsd)
have telnet    || need+=(telnet)
have sysctl    || need+=(procps)
have cc        || need+=(gcc)
have make      || need+=(make)
# tcplab kernels fetch: apt-get download with the archive keyring, dpkg-deb, depmod, and the
# decompressors of bzImage payloads (extract-vmlinux).
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
have depmod    || [ -x /usr/sbin/depmod ] || need+=(kmod)
have lz4       || need+=(lz4)
have zstd      || need+=(zstd)
have xz        || need+=(xz-utils)
have bzip2     || need+=(bzip2)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/aarch64-linux-gnu/libc.a ] || need+=(libc6-dev)
if [ "${1:-}" = "--vm" ] || [ "${1:-}" = "--test" ]; then
  have qemu-system-x86_64 || need+=(qemu-system-x86)
  have modprobe  || need+=(kmod)
fi
if [ "${1:-}" = "--test" ]; then
  have chromium || need+=(chromium)
  python3 -c 'import junitparser' 2>/dev/null || need+=(python3-junitparser)
  have zsh       || need+=(zsh)
  have fish      || need+=(fish)
fi

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "tcplab needs: ${need[*]} (run as root, or: sudo apt-get install -y ${need[*]})" >&2
    exit 3
  fi
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
