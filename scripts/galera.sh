#!/usr/bin/env bash
# scripts/galera.sh — a throwaway 3-node MariaDB Galera cluster behind HAProxy, on
# 127.0.0.1 only, for iactq's high-availability fault injection (chaos scenario "galera").
#
# usage: scripts/galera.sh up|down|status|kill-writer|env
#
#   up           install mariadb-server, galera-4, haproxy and rsync if missing (root +
#                apt only); when no node runs, wipe .iactq/galera/ and create a fresh
#                cluster (node n1 bootstraps, n2 and n3 join by rsync state transfer),
#                then start HAProxy; when some nodes run, start the missing ones (they
#                join by a full state transfer) and HAProxy if it is not running.
#                Prints the env file (DSNs through HAProxy).
#   down         SIGTERM HAProxy and every node, by the pids in their pid files; the data
#                is kept until the next `up` with no node running.
#   status       each node's pid, state and cluster size; HAProxy and the current writer.
#                Exit 0 when HAProxy and at least one synced node run.
#   kill-writer  SIGKILL the node HAProxy sends writes to (asked through HAProxy:
#                @@wsrep_node_name), by the pid in its pid file; prints "nX PID".
#   env          print .iactq/galera/env
#
# Layout and ports (IACTQ_GALERA_PORT = P, default 5300; all on 127.0.0.1):
#   HAProxy        P          writes go to n1; n2 and n3 are `backup` (single writer)
#   node nI        P+I        SQL (I = 1..3); also a unix socket in .iactq/galera/nI/
#                  P+10+I     Galera group communication
#                  P+20+I     incremental state transfer (IST)
#                  P+30+I     rsync state transfer (SST)
# Each node reads only its own .iactq/galera/nI/my.cnf (--defaults-file); the nodes run
# as user mysql (mariadbd started by root switches to it: rsync SST fails as root).
# HAProxy reads .iactq/galera/haproxy.cfg and checks each node with
# .iactq/galera/check.sh (synced and ready, not merely accepting logins).
# Failure detection: evs.suspect_timeout=PT2S, evs.inactive_timeout=PT8S (~3 s failover);
# evs.keepalive_period must then be below a third of the suspect timeout (PT0.5S).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROG="scripts/galera.sh"
# The nodes run as user mysql, which may not be able to enter the checkout (a clone
# under /root, mode 700): the cluster lives under /var/tmp, named after the checkout,
# and .iactq/galera links to it.
BASE="${IACTQ_GALERA_DIR:-/var/tmp/iactq-galera-$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)}"
LINK="$ROOT/.iactq/galera"
ENV_FILE="$BASE/env"
ADMIN_CNF="$BASE/admin.cnf" # iactq_admin's credentials for the mariadb client, mode 600
HA_CFG="$BASE/haproxy.cfg"
HA_PID="$BASE/haproxy.pid"
HA_LOG="$BASE/haproxy.out"
CHECK="$BASE/check.sh"
LOCK_FILE="$ROOT/.iactq/.galera.lock"
NODES=(1 2 3)
CLUSTER=iactq_galera
RUN_USER=mysql

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}
say() { printf '%s\n' "$*" >&2; }

usage() {
	echo "usage: $PROG up|down|status|kill-writer|env   (IACTQ_GALERA_PORT=P moves the ports, default 5300)" >&2
	exit 2
}

[[ $# -eq 1 ]] || usage
CMD=$1

P=${IACTQ_GALERA_PORT:-5300}
if ! [[ $P =~ ^[0-9]+$ ]] || ((P < 1024 || P > 65000)); then
	die "IACTQ_GALERA_PORT='$P' is not a port number in 1024..65000"
fi
sql_port() { echo $((P + $1)); }
gcomm_port() { echo $((P + 10 + $1)); }
ist_port() { echo $((P + 20 + $1)); }
sst_port() { echo $((P + 30 + $1)); }
ndir() { echo "$BASE/n$1"; }
ncnf() { echo "$BASE/n$1/my.cnf"; }
npid() { echo "$BASE/n$1/mariadbd.pid"; }
nsock() { echo "$BASE/n$1/mysqld.sock"; }
nerr() { echo "$BASE/n$1/mariadbd.err"; }

find_bin() {
	local name dir
	for name in "$@"; do
		if command -v "$name" >/dev/null 2>&1; then
			command -v "$name"
			return 0
		fi
		for dir in /usr/sbin /usr/local/sbin /usr/bin /usr/local/bin; do
			if [[ -x $dir/$name ]]; then
				echo "$dir/$name"
				return 0
			fi
		done
	done
	return 1
}

MARIADBD="" INSTALL_DB="" CLIENT="" HAPROXY="" PROVIDER=""
locate() {
	MARIADBD=$(find_bin mariadbd) || MARIADBD=""
	INSTALL_DB=$(find_bin mariadb-install-db) || INSTALL_DB=""
	CLIENT=$(find_bin mariadb) || CLIENT=""
	HAPROXY=$(find_bin haproxy) || HAPROXY=""
	PROVIDER=""
	local f
	for f in /usr/lib/galera/libgalera_smm.so /usr/lib/libgalera_smm.so /usr/lib64/galera-4/libgalera_smm.so /usr/lib64/galera/libgalera_smm.so; do
		if [[ -f $f ]]; then
			PROVIDER=$f
			break
		fi
	done
}

have_all() {
	[[ -n $MARIADBD && -n $INSTALL_DB && -n $CLIENT && -n $HAPROXY && -n $PROVIDER ]] &&
		command -v rsync >/dev/null 2>&1
}

ensure_installed() {
	locate
	have_all && return 0
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		say "installing mariadb-server, mariadb-client, galera-4, haproxy, rsync with apt-get"
		# The packages' postinst may start system services; this script never uses or
		# stops them: its nodes and proxy have their own configs, data, sockets and ports.
		apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || die "apt-get update failed"
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
			--no-install-recommends mariadb-server mariadb-client galera-4 haproxy rsync >&2 ||
			die "apt-get install mariadb-server mariadb-client galera-4 haproxy rsync failed (is galera-4 available on this system?)"
		locate
		have_all || die "packages installed but still missing: mariadbd=${MARIADBD:-?} mariadb-install-db=${INSTALL_DB:-?} mariadb=${CLIENT:-?} haproxy=${HAPROXY:-?} libgalera_smm.so=${PROVIDER:-?} rsync"
		return 0
	fi
	cat >&2 <<EOF
$PROG: a Galera cluster needs mariadbd, mariadb-install-db, mariadb, haproxy, rsync and
the galera-4 provider (libgalera_smm.so). Found: mariadbd=${MARIADBD:-missing}
haproxy=${HAPROXY:-missing} provider=${PROVIDER:-missing}. Install them (as root):
  apt-get install mariadb-server mariadb-client galera-4 haproxy rsync
EOF
	exit 1
}

# pid of a process whose pid file is $1 and whose command line mentions $2; else nothing.
pid_of() {
	local pid cmdline
	[[ -f $1 ]] || return 0
	pid=$(tr -dc '0-9' <"$1" 2>/dev/null || true)
	[[ -n $pid ]] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
	[[ $cmdline == *"$2"* ]] || return 0
	echo "$pid"
}
node_pid() { pid_of "$(npid "$1")" "$(ncnf "$1")"; }
ha_pid() { pid_of "$HA_PID" "$HA_CFG"; }

# Runs SQL as root over node $1's socket (root@localhost authenticates by unix socket).
node_sql() { "$CLIENT" --no-defaults -uroot -S "$(nsock "$1")" --connect-timeout=2 --batch --skip-column-names "${@:2}"; }

node_status() { # $1 = node: prints "state cluster_size ready"
	node_sql "$1" -e "SELECT
		(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT'),
		(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_CLUSTER_SIZE'),
		(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_READY')" 2>/dev/null | tr '\t' ' '
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

random_password() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

write_node_cnf() { # $1 = node
	local i=$1 addrs="" k
	for k in "${NODES[@]}"; do
		addrs+="${addrs:+,}127.0.0.1:$(gcomm_port "$k")"
	done
	cat >"$(ncnf "$i")" <<EOF
# Generated by $PROG for Galera node n$i; read only via --defaults-file.
[mysqld]
user                    = $RUN_USER
datadir                 = $(ndir "$i")/data
socket                  = $(nsock "$i")
pid-file                = $(npid "$i")
log-error               = $(nerr "$i")
port                    = $(sql_port "$i")
bind-address            = 127.0.0.1
skip-name-resolve
tmpdir                  = $(ndir "$i")/tmp
character-set-server    = utf8mb4
collation-server        = utf8mb4_unicode_ci
max_connections         = 400
max_allowed_packet      = 64M
innodb_buffer_pool_size = 128M
innodb_log_file_size    = 64M
innodb_buffer_pool_dump_at_shutdown = 0
innodb_buffer_pool_load_at_startup  = 0
# Galera
binlog_format           = ROW
default_storage_engine  = InnoDB
innodb_autoinc_lock_mode = 2
wsrep_on                = ON
wsrep_provider          = $PROVIDER
wsrep_cluster_name      = $CLUSTER
wsrep_cluster_address   = gcomm://$addrs
wsrep_node_name         = n$i
wsrep_node_address      = 127.0.0.1:$(gcomm_port "$i")
wsrep_sst_method        = rsync
wsrep_sst_receive_address = 127.0.0.1:$(sst_port "$i")
wsrep_slave_threads     = 2
wsrep_provider_options  = "gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$i");ist.recv_addr=127.0.0.1:$(ist_port "$i");gcache.size=64M;evs.keepalive_period=PT0.5S;evs.suspect_timeout=PT2S;evs.inactive_timeout=PT8S"
EOF
}

write_haproxy_cfg() {
	cat >"$CHECK" <<EOF
#!/bin/sh
# HAProxy external check (args: proxy_addr proxy_port server_addr server_port): the node
# must be Synced (wsrep_local_state 4) and ready, not merely accept a login.
out=\$("$CLIENT" --no-defaults -h "\$3" -P "\$4" -u haproxy_check --connect-timeout=1 --batch --skip-column-names \\
	-e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state', 'wsrep_ready')" 2>/dev/null) || exit 1
case "\$out" in *wsrep_local_state*4*) ;; *) exit 1 ;; esac
case "\$out" in *wsrep_ready*ON*) exit 0 ;; esac
exit 1
EOF
	chmod 755 "$CHECK"
	cat >"$HA_CFG" <<EOF
# Generated by $PROG: one listener on 127.0.0.1:$P; every connection goes to n1 while it
# is healthy, else to the first healthy backup (n2, then n3): one writer at a time.
global
    maxconn 4000
    pidfile $HA_PID
    external-check
    insecure-fork-wanted

defaults
    mode tcp
    timeout connect 2s
    timeout client 10m
    timeout server 10m
    timeout check 2s

listen galera_writer
    bind 127.0.0.1:$P
    option external-check
    external-check path "/usr/bin:/bin"
    external-check command $CHECK
    default-server inter 500ms fall 2 rise 3 on-marked-down shutdown-sessions
    server n1 127.0.0.1:$(sql_port 1) check on-marked-up shutdown-backup-sessions
    server n2 127.0.0.1:$(sql_port 2) check backup
    server n3 127.0.0.1:$(sql_port 3) check backup
EOF
}

node_log_tail() {
	say "--- last lines of $(nerr "$1") ---"
	tail -n 25 "$(nerr "$1")" >&2 2>/dev/null || true
}

# Starts node $1 (extra mariadbd options after it) and waits until it is Synced.
start_node() {
	local i=$1 launched pid st k
	shift
	mkdir -p "$(ndir "$i")/data" "$(ndir "$i")/tmp"
	chown -R "$RUN_USER:$RUN_USER" "$(ndir "$i")"
	chmod 750 "$(ndir "$i")"
	write_node_cnf "$i"
	rm -f "$(npid "$i")"
	# setsid: the node must outlive the caller (and its Ctrl-C); 9>&- drops our lock.
	setsid "$MARIADBD" --defaults-file="$(ncnf "$i")" "$@" </dev/null >>"$(ndir "$i")/mariadbd.out" 2>&1 9>&- &
	launched=$!
	for ((k = 0; k < 1200; k++)); do # 120 s: a state transfer may take a while
		pid=$(node_pid "$i")
		if [[ -n $pid ]]; then
			st=$(node_status "$i" || true)
			if [[ $st == Synced* ]]; then
				say "node n$i synced (pid $pid, port $(sql_port "$i"); state, cluster size, ready: $st)"
				return 0
			fi
		elif ! kill -0 "$launched" 2>/dev/null; then
			say "$PROG: node n$i exited during start-up"
			node_log_tail "$i"
			exit 1
		fi
		sleep 0.1
	done
	say "$PROG: node n$i not synced within 120 s"
	node_log_tail "$i"
	exit 1
}

stop_pid() { # $1 = pid; SIGTERM, wait up to 60 s
	local k
	kill -TERM "$1" 2>/dev/null || return 0
	for ((k = 0; k < 600; k++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

start_haproxy() {
	local pid k
	pid=$(ha_pid)
	[[ -z $pid ]] || return 0
	write_haproxy_cfg
	"$HAPROXY" -c -q -f "$HA_CFG" >&2 || die "haproxy rejected $HA_CFG"
	rm -f "$HA_PID"
	setsid "$HAPROXY" -D -f "$HA_CFG" -p "$HA_PID" </dev/null >>"$HA_LOG" 2>&1 9>&- ||
		die "haproxy did not start (see $HA_LOG)"
	# Ready when a login through it reaches a node.
	for ((k = 0; k < 100; k++)); do
		if writer >/dev/null 2>&1; then
			say "haproxy on 127.0.0.1:$P (pid $(ha_pid)); writer $(writer)"
			return 0
		fi
		sleep 0.1
	done
	die "haproxy (pid $(ha_pid)) does not route to a node within 10 s (see $HA_LOG)"
}

# The node HAProxy sends connections to.
writer() {
	"$CLIENT" --defaults-file="$ADMIN_CNF" --connect-timeout=2 --batch --skip-column-names -e 'SELECT @@wsrep_node_name'
}

setup_users() {
	local admin_pw worker_pw
	admin_pw=$(random_password)
	worker_pw=$(random_password)
	# Keep only root@localhost, mysql@localhost and mariadb.sys.
	node_sql 1 <<'EOF' | node_sql 1
SELECT CONCAT('DROP USER ', QUOTE(User), '@', QUOTE(Host), ';') FROM mysql.user
 WHERE NOT (Host = 'localhost' AND User IN ('root', 'mysql', 'mariadb.sys'));
EOF
	node_sql 1 <<EOF
CREATE DATABASE IF NOT EXISTS iactq CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER 'iactq_admin'@'localhost' IDENTIFIED BY '$admin_pw';
CREATE USER 'iactq_admin'@'127.0.0.1' IDENTIFIED BY '$admin_pw';
GRANT ALL PRIVILEGES ON *.* TO 'iactq_admin'@'localhost' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'iactq_admin'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER 'iactq_worker'@'localhost' IDENTIFIED BY '$worker_pw';
CREATE USER 'iactq_worker'@'127.0.0.1' IDENTIFIED BY '$worker_pw';
GRANT SELECT, INSERT, UPDATE, DELETE ON \`iactq\`.* TO 'iactq_worker'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE ON \`iactq\`.* TO 'iactq_worker'@'127.0.0.1';
CREATE USER 'haproxy_check'@'127.0.0.1';
EOF
	(
		umask 077
		cat >"$ADMIN_CNF" <<EOF
[client]
user     = iactq_admin
password = $admin_pw
host     = 127.0.0.1
port     = $P
protocol = tcp
EOF
		{
			echo "IACTQ_DSN='iactq_worker:$worker_pw@tcp(127.0.0.1:$P)/iactq?parseTime=true'"
			echo "IACTQ_ADMIN_DSN='iactq_admin:$admin_pw@tcp(127.0.0.1:$P)/iactq?parseTime=true'"
			for i in "${NODES[@]}"; do
				echo "IACTQ_GALERA_N${i}_DSN='iactq_admin:$admin_pw@tcp(127.0.0.1:$(sql_port "$i"))/iactq?parseTime=true'"
			done
		} >"$ENV_FILE"
	)
}

cmd_up() {
	[[ $(id -u) -eq 0 ]] || die "run as root: the nodes are started as root and switch to user $RUN_USER"
	ensure_installed
	id "$RUN_USER" >/dev/null 2>&1 || die "user $RUN_USER does not exist (the mariadb-server package creates it)"
	mkdir -p "$ROOT/.iactq"
	exec 9>"$LOCK_FILE"
	flock -w 300 9 || die "another $PROG is busy ($LOCK_FILE)"

	local i running=() missing=()
	for i in "${NODES[@]}"; do
		if [[ -n $(node_pid "$i") ]]; then running+=("$i"); else missing+=("$i"); fi
	done
	if ((${#running[@]} == 0)); then
		local pid
		pid=$(ha_pid)
		[[ -z $pid ]] || stop_pid "$pid" || die "haproxy (pid $pid) did not stop"
		for ((i = 0; i <= 33; i++)); do
			if port_busy $((P + i)); then
				die "port $((P + i)) on 127.0.0.1 is in use: choose other ports with IACTQ_GALERA_PORT=NNNN (uses P..P+33)"
			fi
		done
		rm -rf "$BASE"
		mkdir -p "$BASE" "$ROOT/.iactq"
		rm -rf "$LINK"
		ln -sfn "$BASE" "$LINK"
		chmod 755 "$BASE"
		say "creating a fresh Galera cluster in $BASE (ports $P..$((P + 33)))"
		mkdir -p "$(ndir 1)/data" "$(ndir 1)/tmp"
		write_node_cnf 1
		chown -R "$RUN_USER:$RUN_USER" "$(ndir 1)"
		if ! "$INSTALL_DB" --defaults-file="$(ncnf 1)" --user="$RUN_USER" --skip-test-db \
			>"$BASE/install-db.log" 2>&1; then
			tail -n 30 "$BASE/install-db.log" >&2
			die "mariadb-install-db failed"
		fi
		start_node 1 --wsrep-new-cluster
		setup_users
		start_node 2
		start_node 3
	else
		for i in "${missing[@]}"; do
			# A crashed node's data would need --wsrep-recover first; a fresh copy is
			# simpler for a throwaway cluster: it joins by a full rsync transfer.
			say "node n$i is not running: restarting it with a full state transfer"
			rm -rf "$(ndir "$i")/data"
			start_node "$i"
		done
	fi
	start_haproxy
	cat "$ENV_FILE"
}

cmd_down() {
	[[ -d $BASE ]] || {
		say "no Galera cluster in $BASE"
		return 0
	}
	exec 9>"$LOCK_FILE"
	flock -w 300 9 || die "another $PROG is busy ($LOCK_FILE)"
	local pid i rc=0
	pid=$(ha_pid)
	if [[ -n $pid ]]; then
		stop_pid "$pid" || {
			say "haproxy (pid $pid) did not exit within 60 s"
			rc=1
		}
	fi
	rm -f "$HA_PID"
	# The last node to stop is safe to bootstrap from; order does not matter here since
	# `up` recreates the cluster when no node runs.
	for i in 3 2 1; do
		pid=$(node_pid "$i")
		[[ -n $pid ]] || continue
		if stop_pid "$pid"; then
			say "node n$i stopped (pid $pid)"
		else
			say "node n$i (pid $pid) did not exit within 60 s of SIGTERM"
			rc=1
		fi
	done
	say "galera cluster stopped; data in $BASE (wiped by the next up)"
	return $rc
}

cmd_status() {
	locate
	local i pid up=0 st
	for i in "${NODES[@]}"; do
		pid=$(node_pid "$i")
		if [[ -n $pid ]]; then
			st=$(node_status "$i" || echo "not answering")
			echo "node n$i: pid $pid, port $(sql_port "$i"), state/cluster size/ready: $st"
			[[ $st == Synced* ]] && up=1
		else
			echo "node n$i: not running"
		fi
	done
	pid=$(ha_pid)
	if [[ -n $pid ]]; then
		echo "haproxy: pid $pid, 127.0.0.1:$P, writer $(writer 2>/dev/null || echo none)"
	else
		echo "haproxy: not running"
		up=0
	fi
	((up == 1))
}

cmd_kill_writer() {
	locate
	[[ -n $(ha_pid) ]] || die "haproxy is not running"
	local w i pid
	w=$(writer) || die "no node answers through haproxy on 127.0.0.1:$P"
	[[ $w =~ ^n([0-9])$ ]] || die "unexpected writer name '$w'"
	i=${BASH_REMATCH[1]}
	pid=$(node_pid "$i")
	[[ -n $pid ]] || die "writer $w has no live pid in $(npid "$i")"
	kill -KILL "$pid"
	echo "$w $pid"
}

case $CMD in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
kill-writer) cmd_kill_writer ;;
env) cat "$ENV_FILE" ;;
*) usage ;;
esac
