#!/usr/bin/env bash
# Build the tcplab lab image without any container registry: a Debian bookworm root filesystem made
# by debootstrap from the machine's own apt mirror, trimmed, plus the static socket agent, imported
# with `docker import` as tcplab-lab:<package.json version>. `make image` and CI call this.
#
# Usage: containers/build-image.sh [--force] [--no-verify]
#   --force      rebuild even when the image exists (the cached root filesystem is still reused)
#   --no-verify  skip the smoke test of the built image
# Environment:
#   TCPLAB_CACHE_DIR       cache of the .deb tarball and the trimmed rootfs (default /var/cache/tcplab)
#   TCPLAB_DEBIAN_MIRROR   Debian mirror URL (default: the bookworm entry of the machine's apt sources)
#   TCPLAB_IMAGE           image name:tag (default tcplab-lab:<version>)
#   TCPLAB_AGENT           the static agent binary (default agent/build/tcplab-agent, from `make -C agent`)
#   DOCKER_HOST            the daemon to import into (default: the local socket)
#
# Caches, from slowest to fastest path:
#   cold:   debootstrap --make-tarball (download) + --unpack-tarball (install) + trim + import
#   debs:   the .deb tarball exists: install from it, offline, + trim + import
#   rootfs: the trimmed rootfs tarball exists: add the agent + import (seconds)
#   image:  the image exists with the same rootfs key and agent checksum: nothing to do
# Machines with registry access can use containers/Dockerfile instead; both give the same contents.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

force=0
verify=1
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    --no-verify) verify=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown argument: $a (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "build-image: $*"; }
warn() { echo "build-image: warning: $*" >&2; }
die() { echo "build-image: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }

suite=bookworm
# Exactly what the lab needs: ip/ss/tc (iproute2), iptables (nf_tables backend), tcpdump,
# nc (netcat-openbsd), ps/kill/sysctl (procps). No ca-certificates: the lab never talks TLS out.
packages=iproute2,iptables,tcpdump,netcat-openbsd,procps
# Bump when the trim or the rootfs recipe changes, so cached rootfs tarballs are not reused.
recipe=3
agent_src="${TCPLAB_AGENT:-$repo/agent/build/tcplab-agent}"
agent_dst=/usr/local/bin/tcplab-agent

version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$repo/package.json" | head -n 1)"
[ -n "$version" ] || die "could not read the version from $repo/package.json"
image="${TCPLAB_IMAGE:-tcplab-lab:$version}"
cache="${TCPLAB_CACHE_DIR:-/var/cache/tcplab}"

command -v docker >/dev/null 2>&1 || die "no docker client; run containers/start-dockerd.sh first"
docker info >/dev/null 2>&1 || die "the Docker daemon does not answer${DOCKER_HOST:+ at $DOCKER_HOST}; run containers/start-dockerd.sh (or set DOCKER_HOST)"

# The .debs depend on the package list only; the rootfs also on the recipe (the trim).
debs_key="$(printf '%s\n' "$suite" minbase "$packages" | sha256sum | cut -c1-16)"
rootfs_key="$(printf '%s\n' "$debs_key" "$recipe" | sha256sum | cut -c1-16)"
if [ -f "$agent_src" ]; then
  agent_sum="$(sha256sum "$agent_src" | cut -c1-64)"
else
  agent_sum=none
fi

# Reuse the image when it was built from the same rootfs recipe and the same agent binary.
if [ "$force" = 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
  have_key="$(docker image inspect -f '{{index .Config.Labels "tcplab.rootfs-key"}}' "$image")"
  have_agent="$(docker image inspect -f '{{index .Config.Labels "tcplab.agent-sha256"}}' "$image")"
  if [ "$have_key" = "$rootfs_key" ] && [ "$have_agent" = "$agent_sum" ]; then
    size="$(docker image inspect -f '{{.Size}}' "$image")"
    say "$image exists (rootfs $rootfs_key, agent ${agent_sum:0:12}, $((size / 1024 / 1024)) MiB): reused"
    [ "$agent_sum" = none ] && warn "the image has no agent: build it (make -C agent) and run this again"
    exit 0
  fi
  say "$image exists but is stale (rootfs ${have_key:-?} -> $rootfs_key, agent ${have_agent:0:12} -> ${agent_sum:0:12}): rebuilding"
fi

[ "$(id -u)" = 0 ] || die "not root: debootstrap needs root (run: sudo $0)"
mkdir -p "$cache"
# One build at a time per cache (parallel CI jobs on one machine).
exec 9>"$cache/build.lock"
flock 9

# The Debian mirror: the machine's own apt source for the suite (deb822 .sources or one-line .list).
find_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      function flush() { if (uris != "" && (" " suites " ") ~ (" " suite " ") && comps ~ /(^| )main( |$)/ && types ~ /(^| )deb( |$)/) { split(uris, u, " "); print u[1]; found = 1; exit } }
      /^[ \t]*$/ { flush(); uris = suites = comps = types = ""; next }
      /^[ \t]*#/ { next }
      tolower($1) == "uris:"       { $1 = ""; uris = $0 }
      tolower($1) == "suites:"     { $1 = ""; suites = $0 }
      tolower($1) == "components:" { $1 = ""; comps = $0 }
      tolower($1) == "types:"      { $1 = ""; types = $0 }
      END { if (!found) flush() }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [opts] URI SUITE COMPONENTS...
    sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$suite" '$1 == "deb" && $3 == suite { for (i = 4; i <= NF; i++) if ($i == "main") { print $2; exit } }'
  done
}

debs="$cache/debs-$suite-$debs_key.tgz"
rootfs_tar="$cache/rootfs-$suite-$rootfs_key.tar"
work="$(mktemp -d "$cache/work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
t_all=$(now)

if [ ! -s "$rootfs_tar" ]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap (apt-get) ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
  fi
  mirror="${TCPLAB_DEBIAN_MIRROR:-$(find_mirror | head -n 1)}"
  [ -n "$mirror" ] || die "no apt source for '$suite main' in /etc/apt/sources.list{,.d}; set TCPLAB_DEBIAN_MIRROR"
  if [ ! -s "$debs" ]; then
    say "downloading the .debs for $suite ($packages) from $mirror ..."
    t=$(now)
    debootstrap --variant=minbase --include="$packages" --make-tarball="$debs.tmp" "$suite" "$work/dl" "$mirror" \
      >"$work/debootstrap-download.log" 2>&1 || { tail -n 20 "$work/debootstrap-download.log" >&2; rm -f "$debs.tmp"; die "debootstrap --make-tarball failed"; }
    mv "$debs.tmp" "$debs"
    say "downloaded $(du -h "$debs" | cut -f1) of .debs in $(since "$t") (cached: $debs)"
  else
    say "using cached .debs $debs"
  fi
  say "installing the root filesystem (debootstrap --unpack-tarball, offline) ..."
  t=$(now)
  root="$work/rootfs"
  debootstrap --variant=minbase --include="$packages" --unpack-tarball="$debs" "$suite" "$root" "$mirror" \
    >"$work/debootstrap-install.log" 2>&1 || { tail -n 20 "$work/debootstrap-install.log" >&2; die "debootstrap --unpack-tarball failed"; }
  say "installed in $(since "$t") ($(du -sh "$root" | cut -f1))"

  # Trim: package lists, caches, docs (copyright files kept), man pages, locales, logs, gconv.
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/lintian "$root"/usr/share/linda \
         "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
         "$root"/var/lib/dpkg/*-old "$root"/tmp/* "$root"/var/tmp/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  find "$root/var/log" -type f -delete
  # iconv charset modules (8 MB): nothing in the lab converts charsets; UTF-8 and ASCII are built in.
  find "$root/usr/lib/x86_64-linux-gnu/gconv" -mindepth 1 -not -name 'gconv-modules*' -delete 2>/dev/null || true
  # Keep packages installed later in derived images just as lean (what debian:*-slim does).
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  cat >"$root/etc/dpkg/dpkg.cfg.d/tcplab-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  # Docker provides these at run time.
  rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
  : >"$root/etc/resolv.conf"
  say "trimmed to $(du -sh "$root" | cut -f1)"
  tar -C "$root" --numeric-owner -cf "$rootfs_tar.tmp" .
  mv "$rootfs_tar.tmp" "$rootfs_tar"
  rm -rf "$root"
  say "cached the root filesystem: $rootfs_tar"
  # Older recipes' caches are dead weight now.
  find "$cache" -maxdepth 1 \( \( -name "rootfs-$suite-*.tar" -not -name "${rootfs_tar##*/}" \) \
    -o \( -name "debs-$suite-*.tgz" -not -name "${debs##*/}" \) \) -print -delete | sed 's/^/build-image: removed stale cache /'
else
  say "using cached root filesystem $rootfs_tar"
fi

# The agent goes in as a second tar stream appended to the rootfs one (no extraction needed).
stream=("$rootfs_tar")
if [ "$agent_sum" != none ]; then
  if file -b "$agent_src" 2>/dev/null | grep -q 'dynamically linked'; then
    warn "$agent_src is dynamically linked: the image runs it with bookworm's libc, other images may not"
  fi
  mkdir -p "$work/agent/usr/local/bin"
  install -m 0755 "$agent_src" "$work/agent$agent_dst"
  tar -C "$work/agent" --numeric-owner --owner=0 --group=0 -cf "$work/agent.tar" ./usr/local/bin/tcplab-agent
  # Concatenated tar archives: strip the first one's end-of-archive blocks by re-archiving with -A.
  cp "$rootfs_tar" "$work/image.tar"
  tar -Af "$work/image.tar" "$work/agent.tar"
  stream=("$work/image.tar")
else
  warn "no agent at $agent_src (make -C agent): building the image without $agent_dst; run this again once it exists"
fi

say "importing $image ..."
t=$(now)
old_id="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
cat "${stream[@]}" | docker import \
  --change 'CMD ["sleep","infinity"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "LABEL org.opencontainers.image.title=tcplab-lab" \
  --change "LABEL org.opencontainers.image.description=\"tcplab lab host: iproute2 iptables tcpdump netcat-openbsd procps + the tcplab socket agent\"" \
  --change "LABEL org.opencontainers.image.version=$version" \
  --change "LABEL org.opencontainers.image.created=$created" \
  --change "LABEL org.opencontainers.image.base.name=debian:$suite" \
  --change "LABEL tcplab.rootfs-key=$rootfs_key" \
  --change "LABEL tcplab.agent-sha256=$agent_sum" \
  --message "tcplab build-image.sh $version" \
  - "$image" >/dev/null
say "imported in $(since "$t")"
new_id="$(docker image inspect -f '{{.Id}}' "$image")"
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  docker image rm "$old_id" >/dev/null 2>&1 || warn "the previous $image ($old_id) is still in use; remove it later"
fi

if [ "$verify" = 1 ]; then
  # The capability set the docker backend gives lab hosts (src/lab/docker): everything dropped, then
  # NET_ADMIN (iptables, tc, ip, net.* sysctls), NET_RAW (tcpdump, the agent's raw sockets),
  # SETUID+SETGID (tcpdump always switches user, even with -Z root) and KILL (signal processes
  # that changed user). Never --privileged.
  caps=(--cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW --cap-add SETUID --cap-add SETGID --cap-add KILL)
  say "verifying $image (--network none, ${caps[*]}) ..."
  t=$(now)
  name="tcplab-imagecheck-$$"
  docker run -d --name "$name" --label tcplab.image-check=1 --network none "${caps[@]}" \
    --sysctl net.ipv4.tcp_syn_retries=2 "$image" >/dev/null
  trap 'docker rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  failed=0
  check() { # check DESCRIPTION ARGV...: run ARGV in the container, report, remember failures
    local what="$1"; shift
    local out
    if out="$(docker exec "$name" "$@" 2>&1)"; then
      say "  ok    $what: $(printf '%s' "$out" | head -n 1)"
    else
      echo "build-image:   FAIL  $what: $* -> $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')" >&2
      failed=1
    fi
  }
  check "iptables backend" iptables -V
  check "iptables -L" sh -c 'iptables -L -n >/dev/null && echo "filter table listed"'
  check "iptables rule add/delete (nf_tables in the container netns)" sh -c \
    'iptables -A INPUT -p tcp --dport 9 -j DROP && iptables -S INPUT | grep -- "--dport 9" && iptables -D INPUT -p tcp --dport 9 -j DROP'
  check "ip6tables -L" sh -c 'ip6tables -L -n >/dev/null && echo "filter table listed"'
  check "tcpdump" tcpdump --version
  # A real capture into a file. -Z root: without it tcpdump chowns the file to its own user, and
  # CHOWN is not among the capabilities ("Couldn't change ownership of savefile").
  check "tcpdump capture on lo (-Z root -w FILE)" sh -c \
    'tcpdump -Z root -i lo -n -c 1 -w /tmp/check.pcap tcp port 9 2>/tmp/td & sleep 0.5; nc -z 127.0.0.1 9; wait $! || { cat /tmp/td; exit 1; }; grep captured /tmp/td'
  check "sysctl from the container config" sh -c 'test "$(sysctl -n net.ipv4.tcp_syn_retries)" = 2 && echo "net.ipv4.tcp_syn_retries = 2"'
  check "ss" ss -V
  check "nc" sh -c 'nc -h 2>&1 | head -n 1'
  check "ip" ip -V
  check "tc" sh -c 'tc qdisc show dev lo'
  check "ps" ps -V
  if [ "$agent_sum" != none ]; then
    # The agent's command interface belongs to agent/; here it only has to execute.
    check "agent executes" sh -c "timeout 5 $agent_dst --version </dev/null; rc=\$?; [ \$rc -ne 126 ] && [ \$rc -ne 127 ] && [ \$rc -ne 124 ] && echo \"$agent_dst ran (exit \$rc)\""
  fi
  docker rm -f "$name" >/dev/null
  say "verified in $(since "$t")"
  if [ "$failed" != 0 ]; then
    # Do not leave a broken image behind for the next run to reuse.
    docker image rm "$image" >/dev/null 2>&1 || true
    die "the image failed its checks (above); removed $image"
  fi
fi

size="$(docker image inspect -f '{{.Size}}' "$image")"
say "done: $image $((size / 1024 / 1024)) MiB ($(docker image inspect -f '{{.Id}}' "$image" | cut -c8-19)), total $(since "$t_all")"
