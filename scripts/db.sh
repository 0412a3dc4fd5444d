#!/usr/bin/env bash
# scripts/db.sh — a private, throwaway MariaDB server for iactq development and tests.
#
# usage: scripts/db.sh up|down|status|env [NAME]
#
#   up      install MariaDB if missing (root + apt only), initialise .iactq/NAME/ on first
#           use, start the server in the background and print the DSNs (idempotent)
#   down    stop the server (SIGTERM to the pid in its pid file); the data is kept
#   status  say whether it runs; exit 0 when running, 1 when not
#   env     print .iactq/NAME/env (IACTQ_DSN = worker user, IACTQ_ADMIN_DSN = admin user)
#
# NAME defaults to "run" (used by `make run`); `make test` uses "test". Each NAME is an
# independent server: its own datadir, socket and TCP port (127.0.0.1 only):
#   run -> 3407, test -> 3408, bench -> 3409, any other name -> a port derived from the
#   name; when that port is taken at start, the next free of +100, +200, ...;
#   IACTQ_DB_PORT overrides.
# IACTQ_DB_RESET=1 wipes .iactq/NAME/ before `up`.
# IACTQ_DB_BINLOG=off starts the server with the binary log off, as MariaDB ships
# (`make bench` runs such a server too, for the measurements at the defaults); the
# default is on, with binlog_format=ROW, for binary-log wake-ups.
#
# The server reads only .iactq/NAME/my.cnf (--defaults-file), never /etc/mysql, so a
# system MariaDB/MySQL service on the same machine is neither used nor touched.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROG="scripts/db.sh"

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}
say() { printf '%s\n' "$*" >&2; }

usage() {
	cat >&2 <<EOF
usage: $PROG up|down|status|env [NAME]
  NAME defaults to "run"; instances are independent (make test uses "test").
  env: IACTQ_DB_PORT overrides the port, IACTQ_DB_RESET=1 wipes the instance on "up",
  IACTQ_DB_BINLOG=off starts it with the binary log off.
EOF
	exit 2
}

CMD=${1:-}
NAME=${2:-run}
[[ $# -le 2 ]] || usage
[[ -n $CMD ]] || usage
[[ $NAME =~ ^[A-Za-z0-9_-]{1,32}$ ]] || die "bad instance name '$NAME' (letters, digits, _ and -, at most 32)"

BASE="$ROOT/.iactq/$NAME"
DATADIR="$BASE/data"
CNF="$BASE/my.cnf"
CLIENT_CNF="$BASE/client.cnf" # root's credentials, mode 600
ENV_FILE="$BASE/env"
PID_FILE="$BASE/mariadbd.pid"
ERR_LOG="$BASE/mariadbd.err"
OUT_LOG="$BASE/mariadbd.out"
INIT_MARK="$BASE/.initialized"
LOCK_FILE="$ROOT/.iactq/.$NAME.lock"

# The socket lives next to the data unless the path would be too long for sun_path
# (108 bytes; keep a margin): then under /tmp, named by a hash of the instance dir.
SOCKET="$BASE/mysqld.sock"
if ((${#SOCKET} >= 100)); then
	SOCKET="/tmp/iactq-$(printf '%s' "$BASE" | sha256sum | cut -c1-16).sock"
fi

default_port() {
	case $1 in
	run) echo 3407 ;;
	test) echo 3408 ;;
	bench) echo 3409 ;;
	*) echo $((3410 + $(printf '%s' "$1" | cksum | cut -d' ' -f1) % 500)) ;;
	esac
}
if [[ -n ${IACTQ_DB_PORT:-} ]]; then
	if ! [[ $IACTQ_DB_PORT =~ ^[0-9]+$ ]] || ((IACTQ_DB_PORT < 1 || IACTQ_DB_PORT > 65535)); then
		die "IACTQ_DB_PORT='$IACTQ_DB_PORT' is not a port number"
	fi
fi
# The port in the instance's my.cnf (what a running server listens on), else the default.
PORT=$(sed -n 's/^port *= *\([0-9][0-9]*\)$/\1/p' "$CNF" 2>/dev/null || true)
PORT=${PORT:-$(default_port "$NAME")}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Sets PORT for a start: IACTQ_DB_PORT if given, else the default one, or when something
# else (another checkout's instance, say) already listens there, the first free one of
# default+100, default+200, ... (clients use the socket DSNs, so the port may move).
choose_port() {
	if [[ -n ${IACTQ_DB_PORT:-} ]]; then
		PORT=$IACTQ_DB_PORT
		return 0
	fi
	local base i
	base=$(default_port "$NAME")
	for ((i = 0; i <= 20; i++)); do
		PORT=$((base + 100 * i))
		port_busy "$PORT" || {
			((i == 0)) || say "port $base is in use; instance '$NAME' uses port $PORT"
			return 0
		}
	done
	PORT=$base # let the server report the clash
}

# Server binaries often live in sbin directories that are not on a normal user's PATH.
find_bin() {
	local name dir
	for name in "$@"; do
		if command -v "$name" >/dev/null 2>&1; then
			command -v "$name"
			return 0
		fi
		for dir in /usr/sbin /usr/local/sbin /usr/libexec /usr/local/bin /usr/bin; do
			if [[ -x $dir/$name ]]; then
				echo "$dir/$name"
				return 0
			fi
		done
	done
	return 1
}

MARIADBD="" INSTALL_DB="" CLIENT="" ADMIN_TOOL=""
locate_binaries() {
	MARIADBD=$(find_bin mariadbd) || MARIADBD=""
	INSTALL_DB=$(find_bin mariadb-install-db) || INSTALL_DB=""
	CLIENT=$(find_bin mariadb) || CLIENT=""
	ADMIN_TOOL=$(find_bin mariadb-admin) || ADMIN_TOOL=""
}

ensure_installed() {
	locate_binaries
	if [[ -n $MARIADBD && -n $INSTALL_DB && -n $CLIENT && -n $ADMIN_TOOL ]]; then
		return 0
	fi
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		say "MariaDB server/client not found: installing mariadb-server and mariadb-client with apt-get"
		# The package's postinst may start (and enable) the system mariadb service; this
		# script never uses or stops it: our server has its own datadir, socket and port.
		apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 ||
			die "apt-get update failed"
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
			--no-install-recommends mariadb-server mariadb-client >&2 ||
			die "apt-get install mariadb-server mariadb-client failed"
		locate_binaries
		[[ -n $MARIADBD && -n $INSTALL_DB && -n $CLIENT && -n $ADMIN_TOOL ]] ||
			die "mariadb-server was installed but mariadbd/mariadb-install-db/mariadb/mariadb-admin are still missing"
		return 0
	fi
	cat >&2 <<EOF
$PROG: MariaDB is not installed (need mariadbd, mariadb-install-db, mariadb, mariadb-admin).
Install it, then run this again:
  Debian/Ubuntu:  sudo apt-get install mariadb-server mariadb-client
  Fedora/RHEL:    sudo dnf install mariadb-server mariadb
  macOS:          brew install mariadb
(A system service that the package may start is not used: this script runs its own server.)
Or skip the private server: set IACTQ_DSN to an existing MariaDB 10.6+/MySQL 8.0+ database.
EOF
	exit 1
}

# pid of our running server, or nothing. A stale pid file (process gone, or the pid
# reused by another program) counts as not running.
server_pid() {
	local pid cmdline
	[[ -f $PID_FILE ]] || return 0
	pid=$(tr -dc '0-9' <"$PID_FILE" 2>/dev/null || true)
	[[ -n $pid ]] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	if [[ -r /proc/$pid/cmdline ]]; then
		cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
		[[ $cmdline == *"$CNF"* ]] || return 0
	fi
	echo "$pid"
}

# True when the server accepts connections (ping succeeds even if access is denied).
answers() {
	"$ADMIN_TOOL" --defaults-file="$CLIENT_CNF" --connect-timeout=2 ping >/dev/null 2>&1
}

log_tail() {
	if [[ -s $ERR_LOG ]]; then
		say "--- last lines of $ERR_LOG ---"
		tail -n 30 "$ERR_LOG" >&2
	fi
	if [[ -s $OUT_LOG ]]; then
		say "--- last lines of $OUT_LOG ---"
		tail -n 10 "$OUT_LOG" >&2
	fi
}

random_password() {
	# 32 hex characters: safe inside DSNs, SQL literals and shell quotes.
	head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

write_cnf() {
	cat >"$CNF" <<EOF
# Generated by $PROG for instance "$NAME"; read only via --defaults-file.
[mysqld]
user                    = $(id -un)
datadir                 = $DATADIR
socket                  = $SOCKET
pid-file                = $PID_FILE
log-error               = $ERR_LOG
port                    = $PORT
bind-address            = 127.0.0.1
skip-name-resolve
tmpdir                  = $BASE/tmp
character-set-server    = utf8mb4
collation-server        = utf8mb4_unicode_ci
innodb_buffer_pool_size = 256M
innodb_buffer_pool_dump_at_shutdown = 0
innodb_buffer_pool_load_at_startup  = 0
max_connections         = 500
max_allowed_packet      = 64M
server_id               = 1
EOF
	if [[ ${IACTQ_DB_BINLOG:-on} == off ]]; then
		echo "# IACTQ_DB_BINLOG=off: the binary log is off, as MariaDB ships." >>"$CNF"
	else
		cat >>"$CNF" <<EOF
# The binary log lets workers wake the moment a job is inserted (IACTQ_BINLOG_DSN).
log-bin                 = mysql-bin
binlog_format           = ROW
binlog_expire_logs_seconds = 86400
EOF
	fi
}

write_client_cnf() { # $1 = root password (may be empty)
	(
		umask 077
		cat >"$CLIENT_CNF" <<EOF
[client]
user     = root
password = $1
socket   = $SOCKET
protocol = socket
EOF
	)
}

sql_root() { # runs SQL from stdin as root over the socket
	"$CLIENT" --defaults-file="$CLIENT_CNF" --batch --skip-column-names
}

start_server() {
	rm -f "$PID_FILE"
	[[ $SOCKET == "$BASE/"* ]] || rm -f "$SOCKET" "$SOCKET.lock"
	# setsid: the server must outlive the caller (and its Ctrl-C); 9>&- drops our lock.
	local starter=()
	command -v setsid >/dev/null 2>&1 && starter=(setsid)
	"${starter[@]}" "$MARIADBD" --defaults-file="$CNF" </dev/null >>"$OUT_LOG" 2>&1 9>&- &
	local launched=$! pid="" i
	for ((i = 0; i < 300; i++)); do
		pid=$(server_pid)
		if [[ -n $pid ]] && answers; then
			return 0
		fi
		if [[ -z $pid ]] && ! kill -0 "$launched" 2>/dev/null; then
			say "$PROG: mariadbd for instance '$NAME' exited during start-up (port $PORT, socket $SOCKET)"
			log_tail
			if grep -q 'Address already in use' "$ERR_LOG" 2>/dev/null; then
				say "hint: port $PORT is taken by another program; choose another with IACTQ_DB_PORT=NNNN $PROG up $NAME"
			fi
			exit 1
		fi
		sleep 0.1
	done
	say "$PROG: mariadbd for instance '$NAME' did not answer within 30 s (port $PORT, socket $SOCKET)"
	log_tail
	exit 1
}

stop_server() { # quiet; returns 1 when it would not stop
	local pid i
	pid=$(server_pid)
	[[ -n $pid ]] || {
		rm -f "$PID_FILE"
		return 0
	}
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || {
			rm -f "$PID_FILE"
			return 0
		}
		sleep 0.1
	done
	return 1
}

first_setup() {
	local root_pw admin_pw worker_pw binlog_pw
	root_pw=$(random_password)
	admin_pw=$(random_password)
	worker_pw=$(random_password)
	binlog_pw=$(random_password)
	# Keep only root@localhost and mariadb.sys: mariadb-install-db also creates a
	# password-less root@HOSTNAME and, in some versions, anonymous accounts.
	sql_root <<'EOF' | sql_root
SELECT CONCAT('DROP USER ', QUOTE(User), '@', QUOTE(Host), ';') FROM mysql.user
 WHERE NOT (Host = 'localhost' AND User IN ('root', 'mariadb.sys'));
EOF
	sql_root <<EOF
CREATE DATABASE IF NOT EXISTS iactq CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER 'iactq_admin'@'localhost' IDENTIFIED BY '$admin_pw';
CREATE USER 'iactq_admin'@'127.0.0.1' IDENTIFIED BY '$admin_pw';
GRANT ALL PRIVILEGES ON *.* TO 'iactq_admin'@'localhost' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'iactq_admin'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER 'iactq_worker'@'localhost' IDENTIFIED BY '$worker_pw';
CREATE USER 'iactq_worker'@'127.0.0.1' IDENTIFIED BY '$worker_pw';
GRANT SELECT, INSERT, UPDATE, DELETE ON \`iactq\`.* TO 'iactq_worker'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE ON \`iactq\`.* TO 'iactq_worker'@'127.0.0.1';
CREATE USER 'iactq_binlog'@'localhost' IDENTIFIED BY '$binlog_pw';
CREATE USER 'iactq_binlog'@'127.0.0.1' IDENTIFIED BY '$binlog_pw';
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'iactq_binlog'@'localhost';
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'iactq_binlog'@'127.0.0.1';
ALTER USER 'root'@'localhost' IDENTIFIED BY '$root_pw';
FLUSH PRIVILEGES;
EOF
	write_client_cnf "$root_pw"
	# Named time zones (SET time_zone = 'Europe/Madrid', CONVERT_TZ) need these tables.
	local tzinfo
	if [[ -d /usr/share/zoneinfo ]] && tzinfo=$(find_bin mariadb-tzinfo-to-sql mysql_tzinfo_to_sql); then
		"$tzinfo" /usr/share/zoneinfo 2>/dev/null | "$CLIENT" --defaults-file="$CLIENT_CNF" mysql ||
			say "warning: loading the time zone tables failed; named time zones will not work"
	fi
	(
		umask 077
		cat >"$ENV_FILE" <<EOF
IACTQ_DSN='iactq_worker:$worker_pw@unix($SOCKET)/iactq?parseTime=true'
IACTQ_ADMIN_DSN='iactq_admin:$admin_pw@unix($SOCKET)/iactq?parseTime=true'
IACTQ_BINLOG_DSN='iactq_binlog:$binlog_pw@unix($SOCKET)/iactq?parseTime=true'
EOF
	)
	chmod 600 "$ENV_FILE" "$CLIENT_CNF"
}

print_env() {
	[[ -f $ENV_FILE ]] || die "instance '$NAME' is not initialised (run: $PROG up $NAME)"
	cat "$ENV_FILE"
}

cmd_up() {
	ensure_installed
	mkdir -p "$ROOT/.iactq"
	local pid
	# One `up`/`down` per instance at a time (two `make test` runs, say).
	exec 9>"$LOCK_FILE"
	if command -v flock >/dev/null 2>&1; then
		flock -w 120 9 || die "another $PROG is busy with instance '$NAME' ($LOCK_FILE)"
	fi

	if [[ ${IACTQ_DB_RESET:-0} == 1 ]]; then
		stop_server || die "could not stop instance '$NAME' for the reset (pid $(server_pid))"
		say "resetting instance '$NAME': removing $BASE"
		rm -rf "$BASE"
		[[ $SOCKET == "$BASE/"* ]] || rm -f "$SOCKET" "$SOCKET.lock"
	fi

	pid=$(server_pid)
	if [[ -n $pid && -f $INIT_MARK ]]; then
		local i
		for ((i = 0; i < 300; i++)); do
			answers && break
			sleep 0.1
		done
		answers || {
			say "$PROG: instance '$NAME' has a process (pid $pid) that does not answer"
			log_tail
			exit 1
		}
		say "iactq db '$NAME' already running (pid $pid, port $PORT, socket $SOCKET)"
		print_env
		return 0
	fi

	if [[ ! -f $INIT_MARK ]]; then
		# Never initialised, or a previous first start did not finish: start afresh.
		stop_server || die "could not stop a half-initialised instance '$NAME'"
		rm -rf "$BASE"
		mkdir -p "$BASE/tmp"
		chmod 700 "$BASE"
		choose_port
		write_cnf
		say "initialising MariaDB instance '$NAME' in $DATADIR"
		if ! "$INSTALL_DB" --defaults-file="$CNF" --auth-root-authentication-method=normal \
			--skip-test-db >"$BASE/install-db.log" 2>&1; then
			say "$PROG: mariadb-install-db failed for instance '$NAME'"
			tail -n 30 "$BASE/install-db.log" >&2
			exit 1
		fi
		write_client_cnf "" # a fresh install's root@localhost has an empty password
		start_server
		first_setup
		touch "$INIT_MARK"
		say "iactq db '$NAME' initialised and started (pid $(server_pid), port $PORT, socket $SOCKET)"
	else
		mkdir -p "$BASE/tmp"
		choose_port
		write_cnf # the env file's socket DSNs stay valid whatever the port
		start_server
		say "iactq db '$NAME' started (pid $(server_pid), port $PORT, socket $SOCKET)"
	fi
	print_env
}

cmd_down() {
	local pid
	[[ -d $BASE ]] || {
		say "iactq db '$NAME' is not initialised; nothing to stop"
		return 0
	}
	exec 9>"$LOCK_FILE"
	if command -v flock >/dev/null 2>&1; then
		flock -w 120 9 || die "another $PROG is busy with instance '$NAME' ($LOCK_FILE)"
	fi
	pid=$(server_pid)
	if [[ -z $pid ]]; then
		rm -f "$PID_FILE"
		say "iactq db '$NAME' is not running"
		return 0
	fi
	if stop_server; then
		say "iactq db '$NAME' stopped (pid $pid); data kept in $DATADIR"
	else
		say "$PROG: instance '$NAME' (pid $pid) did not exit within 30 s of SIGTERM"
		log_tail
		exit 1
	fi
}

cmd_status() {
	local pid
	pid=$(server_pid)
	if [[ -n $pid ]]; then
		echo "iactq db '$NAME' running (pid $pid, port $PORT, socket $SOCKET)"
		return 0
	fi
	if [[ -f $INIT_MARK ]]; then
		echo "iactq db '$NAME' not running (data in $DATADIR)"
	else
		echo "iactq db '$NAME' not running (not initialised)"
	fi
	return 1
}

case $CMD in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) print_env ;;
-h | --help | help) usage ;;
*) usage ;;
esac
