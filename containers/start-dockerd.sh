#!/usr/bin/env bash
# Start a Docker engine for the tcplab docker backend, without touching the host's
# network configuration. Idempotent: when the daemon already answers, it does nothing.
#
# Usage:
#   containers/start-dockerd.sh                     # the default daemon (unix:///var/run/docker.sock)
#   containers/start-dockerd.sh --name tcp --host tcp://127.0.0.1:23750
#                                                   # an extra daemon with its own data/exec root and pidfile
#   containers/start-dockerd.sh --name tcp --stop   # stop a daemon this script started (by its pidfile)
#
# Why these dockerd flags (the lab's rule: the host is never touched):
#   --bridge=none       no default docker0 bridge; labs create their own `internal` networks.
#   --iptables=false    dockerd would otherwise insert DOCKER / DOCKER-USER / DOCKER-ISOLATION chains and
#   --ip6tables=false   NAT rules into the host's own tables. Lab networks are `internal` (no gateway
#                       route out) and faults live inside lab containers, so no host rule is needed.
#   --ip-forward=false  dockerd would otherwise write net.ipv4.ip_forward=1 (and the IPv6 forwarding
#                       sysctls) on the host. The `wire` container forwards inside its own namespace.
#   --ip-masq=false     no masquerading of lab traffic, ever (lab addresses never leave the machine).
# The script compares the host's iptables rules and forwarding sysctls before and after the start and
# fails loudly if anything changed.
#
# A daemon that is already running (systemd, the admin's own) is used as it is: this script never
# reconfigures it. An extra daemon (--name) listens only where --host says; tcp:// is accepted on the
# loopback only, because an unauthenticated Docker API socket gives root to whoever reaches it.
set -euo pipefail

name=""
host=""
stop=0
timeout_s=60

die() { echo "start-dockerd: error: $*" >&2; exit 1; }
say() { echo "start-dockerd: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --name) name="${2:?--name needs a value}"; shift 2 ;;
    --host) host="${2:?--host needs a value}"; shift 2 ;;
    --stop) stop=1; shift ;;
    --timeout) timeout_s="${2:?--timeout needs seconds}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

if [ -n "$name" ]; then
  case "$name" in *[!a-z0-9-]*) die "--name must be [a-z0-9-]+, got '$name'" ;; esac
  data_root="/var/lib/tcplab-dockerd-$name"
  exec_root="/run/tcplab-dockerd-$name"
  pidfile="/run/tcplab-dockerd-$name.pid"
  log="/var/log/tcplab-dockerd-$name.log"
else
  data_root="/var/lib/docker"
  exec_root="/var/run/docker"
  pidfile="/var/run/docker.pid"
  log="/var/log/tcplab-dockerd.log"
  [ -n "$host" ] || host="${DOCKER_HOST:-}"
fi

# Stop a daemon by its pidfile (only a dockerd process, only the one this pidfile names).
if [ "$stop" = 1 ]; then
  if [ ! -s "$pidfile" ]; then say "no pidfile $pidfile: nothing to stop"; exit 0; fi
  pid="$(cat "$pidfile")"
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" != "dockerd" ]; then
    say "pid $pid from $pidfile is not a running dockerd: nothing to stop"; rm -f "$pidfile"; exit 0
  fi
  say "stopping dockerd pid $pid ($pidfile)"
  kill -TERM "$pid"
  for _ in $(seq 1 $((timeout_s * 10))); do
    [ -d "/proc/$pid" ] || { say "stopped"; exit 0; }
    sleep 0.1
  done
  die "dockerd pid $pid did not exit within ${timeout_s}s after SIGTERM (log: $log)"
fi

# Where the client should look. An extra daemon must say where it listens.
if [ -n "$name" ] && [ -z "$host" ]; then die "--name needs --host (unix:///path or tcp://127.0.0.1:PORT)"; fi
docker_args=()
listen_args=()
if [ -n "$host" ]; then
  case "$host" in
    unix://*) ;;
    tcp://127.*:*|tcp://localhost:*) ;;
    *) die "DOCKER_HOST=$host is not a local socket: start the daemon on that machine, this script only starts local ones" ;;
  esac
  docker_args=(-H "$host")
  listen_args=(-H "$host")
fi

is_up() { timeout 10 docker "${docker_args[@]}" info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && is_up; then
  say "a Docker daemon already answers at ${host:-the default socket}: nothing to do"
  docker "${docker_args[@]}" version --format 'start-dockerd: server {{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null || true
  exit 0
fi

[ "$(id -u)" = 0 ] || die "not root: dockerd needs root (run: sudo $0)"

if ! command -v dockerd >/dev/null 2>&1; then
  say "installing docker.io (apt-get) ..."
  # Keep the package's maintainer scripts from starting the system service with its default flags
  # (which would add iptables rules and set ip_forward): policy-rc.d is the Debian mechanism for that.
  # Only when the machine has none, and removed again afterwards.
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    added_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  if [ "$added_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  say "installed $(dockerd --version)"
fi

if [ -s "$pidfile" ] && [ "$(cat "/proc/$(cat "$pidfile")/comm" 2>/dev/null || true)" = "dockerd" ]; then
  die "dockerd pid $(cat "$pidfile") ($pidfile) is running but does not answer at ${host:-the default socket}; see $log or stop it first"
fi

# What the host looks like before: iptables rules (counters stripped) and forwarding sysctls.
snapshot_host() {
  local t
  for t in iptables-save ip6tables-save; do
    if command -v "$t" >/dev/null 2>&1; then "$t" 2>/dev/null | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//g' || true; fi
  done
  sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv6.conf.default.forwarding 2>/dev/null || true
}
before="$(snapshot_host)"

mkdir -p "$(dirname "$log")" "$exec_root"
flags=(--bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false
       --data-root "$data_root" --exec-root "$exec_root" --pidfile "$pidfile" "${listen_args[@]}")
say "starting: dockerd ${flags[*]} (log: $log)"
t0=$(date +%s.%N)
# setsid + nohup: the daemon outlives this script and the caller's terminal/process group.
setsid nohup dockerd "${flags[@]}" >>"$log" 2>&1 </dev/null &
dpid=$!

deadline=$(( $(date +%s) + timeout_s ))
until is_up; do
  if ! kill -0 "$dpid" 2>/dev/null; then
    echo "start-dockerd: dockerd exited during start-up; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "start-dockerd: dockerd did not answer within ${timeout_s}s; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  sleep 0.2
done
t1=$(date +%s.%N)

after="$(snapshot_host)"
if [ "$before" != "$after" ]; then
  echo "start-dockerd: error: the host's iptables rules or forwarding sysctls changed while dockerd started:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi

say "dockerd pid $dpid answers at ${host:-unix:///var/run/docker.sock} after $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s"
docker "${docker_args[@]}" version --format 'start-dockerd: server {{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null || true
say "host iptables rules and forwarding sysctls unchanged"
