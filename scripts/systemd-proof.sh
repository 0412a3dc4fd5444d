#!/usr/bin/env bash
# scripts/systemd-proof.sh — the Debian package and its units under a real systemd.
#
#   scripts/systemd-proof.sh image        build (once) the cached Debian 12 root: minbase +
#                                         systemd, dbus, polkitd, mariadb-server (apt)
#   scripts/systemd-proof.sh run DEB      boot a throw-away copy of it with systemd-nspawn,
#                                         install DEB with apt, follow docs/operations.md
#                                         (its blocks marked <!-- proof: NAME -->) and check
#                                         what an operator sees (scripts/systemd-proof/check.sh)
#
# Root only (debootstrap, mounts, nspawn). systemd never boots on the host: only inside
# the container (--register=no, no machined needed; --private-network, so its MariaDB
# and ports never meet the host's). The root is cached in $IACTQ_SYSTEMD_CACHE
# (default /var/tmp/iactq-systemd) and rebuilt when this script's IMAGE_PACKAGES change;
# debootstrap and apt read the mirror this machine's apt uses. Each run gets its own
# overlayfs (or copy) of the root, removed afterwards; the container is stopped by its
# pid. Installs debootstrap and systemd-container on the host if missing.
set -euo pipefail

CACHE=${IACTQ_SYSTEMD_CACHE:-/var/tmp/iactq-systemd}
SUITE=bookworm
IMAGE_PACKAGES="systemd systemd-sysv dbus polkitd mariadb-server mariadb-client"
IMAGE_VERSION=1 # bump to rebuild the cached root
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

say() { printf 'systemd-proof: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, mounts, systemd-nspawn)"

host_tools() {
	local missing=()
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
	[ ${#missing[@]} = 0 ] && return 0
	say "installing ${missing[*]} on the host"
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2; } ||
		die "cannot install ${missing[*]}"
}

# mirror prints the Debian mirror this machine's apt uses for $SUITE main.
mirror() {
	local m
	m=$(apt-cache policy 2>/dev/null | awk -v s="$SUITE/main" '$3 == s && $2 ~ /^https?:/ { print $2; exit }')
	if [ -z "$m" ]; then
		apt-get update >&2 || true
		m=$(apt-cache policy 2>/dev/null | awk -v s="$SUITE/main" '$3 == s && $2 ~ /^https?:/ { print $2; exit }')
	fi
	[ -n "$m" ] || die "no '$SUITE main' source in this machine's apt sources"
	printf '%s\n' "${m%/}"
}

mounts_under() { awk -v r="$1" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | LC_ALL=C sort -r; }
unmount_under() {
	local m
	for _ in 1 2 3; do
		for m in $(mounts_under "$1"); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
		[ -z "$(mounts_under "$1")" ] && return 0
		sleep 0.5
	done
	return 1
}

stamp() { printf 'version=%s suite=%s packages=%s\n' "$IMAGE_VERSION" "$SUITE" "$IMAGE_PACKAGES"; }

cmd_image() {
	host_tools
	mkdir -p "$CACHE/debs"
	exec 8>"$CACHE/.lock"
	flock 8
	if [ -f "$CACHE/root.stamp" ] && [ "$(cat "$CACHE/root.stamp")" = "$(stamp)" ] && [ -d "$CACHE/root" ]; then
		say "cached root ready: $CACHE/root"
		return 0
	fi
	local new=$CACHE/root.new m t0=$SECONDS
	unmount_under "$new" || die "cannot unmount $new"
	rm -rf --one-file-system "$new"
	m=$(mirror)
	say "debootstrap $SUITE (minbase) into $new"
	debootstrap --variant=minbase --include=ca-certificates --cache-dir="$CACHE/debs" "$SUITE" "$new" "$m" >"$CACHE/debootstrap.log" 2>&1 ||
		{ tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
	# As in any chroot, package installs must not start services here.
	printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
	chmod 755 "$new/usr/sbin/policy-rc.d"
	cp -L /etc/resolv.conf "$new/etc/resolv.conf"
	apt-config dump 2>/dev/null | grep -E '^Acquire::(Check-Valid-Until|Check-Date|Retries|https?::Proxy(::[^ ]+)?) ' \
		>"$new/etc/apt/apt.conf.d/90proof-network" || true
	mount -t proc proc "$new/proc"
	mount --bind /dev "$new/dev"
	mount --make-private "$new/dev"
	mount -t sysfs sysfs "$new/sys"
	local ok=1
	{
		chroot "$new" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive apt-get update &&
			# shellcheck disable=SC2086
			chroot "$new" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
				apt-get install -y --no-install-recommends $IMAGE_PACKAGES
	} >"$CACHE/apt.log" 2>&1 || ok=0
	unmount_under "$new" || die "cannot unmount $new"
	[ "$ok" = 1 ] || { tail -20 "$CACHE/apt.log" >&2; die "apt-get install in the root failed (log: $CACHE/apt.log)"; }
	rm -f "$new/usr/sbin/policy-rc.d" "$new/etc/resolv.conf" "$new/etc/apt/apt.conf.d/90proof-network"
	rm -rf "$new/var/cache/apt/archives/"*.deb
	echo iactq-proof >"$new/etc/hostname"
	: >"$new/etc/machine-id"
	# A quiet, quick boot: nothing the proof does not use.
	for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer getty@tty1.service \
		console-getty.service systemd-timesyncd.service; do
		ln -sf /dev/null "$new/etc/systemd/system/$u"
	done
	if [ -d "$CACHE/root" ]; then rm -rf --one-file-system "$CACHE/root"; fi
	mv "$new" "$CACHE/root"
	stamp >"$CACHE/root.stamp"
	say "cached root ready: $CACHE/root ($(du -sh "$CACHE/root" | cut -f1), $((SECONDS - t0)) s)"
}

# cgroups_visible mounts a cgroup tree at /sys/fs/cgroup when none is there: in a
# chroot whose /sys was bound without its submounts (as a fresh-machine check does),
# systemd-nspawn fails with "Failed to determine whether the unified cgroups hierarchy
# is used". It mounts the layout this host's kernel offers besides the controllers: a
# tmpfs holding the unified (cgroup2) hierarchy and the named "systemd" one, as a
# hybrid host has them; they are unmounted at cleanup.
CGROUP_BOUND=''
cgroups_visible() {
	mountpoint -q /sys/fs/cgroup && return 0
	say "/sys/fs/cgroup is not mounted here (a chroot?): mounting a cgroup tree there"
	CGROUP_BOUND=1
	mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup &&
		mkdir -p /sys/fs/cgroup/unified /sys/fs/cgroup/systemd &&
		mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified &&
		mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd ||
		die "cannot mount a cgroup tree at /sys/fs/cgroup"
}

NSPAWN_PID='' RUN_DIR=''
cleanup() {
	local rc=$?
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		kill -TERM "$NSPAWN_PID" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$NSPAWN_PID" 2>/dev/null || true
		wait "$NSPAWN_PID" 2>/dev/null || true
	fi
	if [ -n "$RUN_DIR" ]; then
		if unmount_under "$RUN_DIR"; then rm -rf --one-file-system "$RUN_DIR"; else say "left $RUN_DIR mounted"; fi
	fi
	[ -z "$CGROUP_BOUND" ] || umount -R /sys/fs/cgroup 2>/dev/null || umount -R -l /sys/fs/cgroup 2>/dev/null || true
	exit "$rc"
}

# init_pid prints the pid of the container's init: systemd-nspawn's only child.
init_pid() {
	local p
	p=$(ps -o pid= --ppid "$NSPAWN_PID" 2>/dev/null | head -1 | tr -d ' ')
	[ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] && echo "$p"
}

cmd_run() {
	local deb=${1:?usage: systemd-proof.sh run DEB}
	[ -f "$deb" ] || die "no package at $deb (make package)"
	deb=$(realpath "$deb")
	cmd_image
	exec 8>&- # the image lock: runs share the root read-only
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mkdir -p "$CACHE/runs"
	RUN_DIR=$(mktemp -d "$CACHE/runs/run.XXXXXX")
	local root=$RUN_DIR/root pid state
	mkdir -p "$RUN_DIR/upper" "$RUN_DIR/work" "$root"
	if ! mount -t overlay proof -o "lowerdir=$CACHE/root,upperdir=$RUN_DIR/upper,workdir=$RUN_DIR/work" "$root" 2>/dev/null; then
		say "overlayfs unavailable: copying the root"
		cp -a "$CACHE/root/." "$root/"
	fi
	mkdir -p "$root/root/proof"
	cp "$deb" "$root/root/proof/"
	cp "$REPO/docs/operations.md" "$HERE/systemd-proof/check.sh" "$root/root/proof/"
	cgroups_visible
	say "booting $root"
	systemd-nspawn -q -D "$root" --boot --register=no --keep-unit --private-network \
		--machine="iactq-proof-$$" >"$RUN_DIR/console.log" 2>&1 </dev/null &
	NSPAWN_PID=$!
	for _ in $(seq 1 100); do
		pid=$(init_pid) && break
		kill -0 "$NSPAWN_PID" 2>/dev/null || { cat "$RUN_DIR/console.log" >&2; die "systemd-nspawn exited"; }
		sleep 0.1
	done
	[ -n "${pid:-}" ] || die "no init process in the container"
	in_container() { nsenter -t "$pid" -m -u -i -n -p -r -w -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
	for _ in $(seq 1 240); do # systemctl answers once systemd's private socket is up
		state=$(in_container timeout 120 systemctl is-system-running --wait 2>&1) || true
		case $state in running | degraded | maintenance | stopping) break ;; esac
		sleep 0.5
	done
	say "container systemd: $state"
	case $state in running | degraded) ;; *)
		tail -30 "$RUN_DIR/console.log" >&2
		die "the container's systemd did not come up"
		;;
	esac
	in_container bash /root/proof/check.sh "/root/proof/$(basename "$deb")"
}

case ${1:-} in
image) cmd_image ;;
run) cmd_run "${@:2}" ;;
*)
	sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
