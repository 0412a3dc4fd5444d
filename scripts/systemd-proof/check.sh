#!/usr/bin/env bash
# scripts/systemd-proof/check.sh DEB — runs INSIDE the booted container (see
# ../systemd-proof.sh): follows docs/operations.md (its blocks marked
# <!-- proof: NAME -->, run as written) and checks what an operator sees. Prints one
# "PASS ..." or "FAIL ..." line per check; exits 1 at the first failure.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
NEW_DEB=$1
PROOF=/root/proof
DOC=$PROOF/operations.md
T0=$SECONDS
trap 'fail "line $LINENO: \"$BASH_COMMAND\" exited $?"' ERR

say() { printf '[%3ds] %s\n' $((SECONDS - T0)) "$*"; }
pass() { say "PASS $*"; }
fail() {
	trap - ERR
	say "FAIL $*"
	echo "--- journal of the iactq units (last 60 lines):"
	journalctl -u 'iactq-worker*' --no-pager -n 60 -o short-precise 2>/dev/null || true
	exit 1
}

# block NAME prints the fenced block that follows "<!-- proof: NAME -->" in the docs.
block() {
	awk -v name="$1" '
		$0 == "<!-- proof: " name " -->" { want = 1; next }
		want && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' "$DOC"
}

# doc NAME runs a sh block of the docs as written (in $PWD), echoing it.
doc() {
	local b
	b=$(block "$1")
	[ -n "$b" ] || fail "docs/operations.md has no block <!-- proof: $1 -->"
	say "docs/operations.md, block '$1':"
	sed 's/^/    | /' <<<"$b"
	bash -euo pipefail -c "$b" || fail "block '$1' of docs/operations.md failed"
}

# docsql NAME runs an SQL block of the docs as the server's root (unix socket).
docsql() {
	local b
	b=$(block "$1")
	[ -n "$b" ] || fail "docs/operations.md has no block <!-- proof: $1 -->"
	say "docs/operations.md, SQL block '$1':"
	sed 's/^/    | /' <<<"$b"
	mariadb <<<"$b" || fail "SQL block '$1' of docs/operations.md failed"
}

q() { mariadb -N -B iact -e "$1"; }
# counts TAG prints "state=n ..." of the noop jobs requested by TAG.
counts() { q "SELECT CONCAT(state, '=', COUNT(*)) FROM iactq_jobs WHERE requested_by = '$1' GROUP BY state ORDER BY state" | tr '\n' ' '; }
n_state() { q "SELECT COUNT(*) FROM iactq_jobs WHERE requested_by = '$1' AND state = '$2'"; }
n_all() { q "SELECT COUNT(*) FROM iactq_jobs WHERE requested_by = '$1'"; }
# wait_until SECONDS DESCRIPTION CMD...: runs CMD every 0.5 s until it succeeds.
wait_until() {
	local limit=$1 what=$2 end=$((SECONDS + $1))
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "$what: not within ${limit}s"
		sleep 0.5
	done
}
hc_pending() { [ -n "$(q "SELECT id FROM iactq_jobs WHERE kind = 'health_check' AND state = 'scheduled' LIMIT 1")" ]; }
job_finished() { [ -n "$(q "SELECT 1 FROM iactq_jobs WHERE id = $1 AND state IN ('completed', 'retryable', 'discarded')")" ]; }
deploy_finished() { [ -n "$(q "SELECT 1 FROM iactq_deploys WHERE state IN ('succeeded', 'failed', 'rolled_back')")" ]; }
restarted_since() { [ "$(prop iactq-worker NRestarts)" -gt "$1" ]; }
unit_active() { [ "$(prop "$1" ActiveState)" = active ]; }
all_completed() { [ "$(n_state "$1" completed)" = "$2" ]; }
some_running() { [ "$(n_state "$1" running)" -gt 0 ]; }
prop() { systemctl show -p "$2" --value "$1"; }
worker_env() { set -a && . /etc/iactq/iactq.env && set +a; }
enqueue() { # TAG N ARGS [QUEUE]
	local i
	for i in $(seq 1 "$2"); do
		printf '{"kind":"noop","args":%s,"queue":"%s","requested_by":"%s"}\n' "$3" "${4:-default}" "$1"
	done | (worker_env && iactq enqueue --batch >/dev/null)
}

# ---------------------------------------------------------------------------------
say "systemd $(systemctl --version | head -1 | cut -d' ' -f2), $(systemctl is-system-running)"
wait_until 60 "mariadb running" systemctl is-active mariadb

# An older build of the same package, to upgrade from later.
mkdir -p /tmp/old/pkg "$PROOF/old"
dpkg-deb -R "$NEW_DEB" /tmp/old/pkg
sed -i 's/^Version: .*/Version: 0~proof.old/' /tmp/old/pkg/DEBIAN/control
dpkg-deb -Znone -b /tmp/old/pkg "$PROOF/old/iactq_0~proof.old_amd64.deb" >/dev/null

# 1. The server, the database and its users, as docs/operations.md says.
doc server-config
wait_until 60 "mariadb back after its configuration" systemctl is-active mariadb
docsql create-users

# 2. The package (the older build first), the DSN, the schema.
cd "$PROOF/old"
doc install
[ "$(stat -c '%a %U:%G' /etc/iactq/iactq.env)" = "640 root:iactq" ] || fail "iactq.env is $(stat -c '%a %U:%G' /etc/iactq/iactq.env), want 640 root:iactq"
[ "$(stat -c '%a %U:%G' /var/lib/iactq)" = "750 iactq:iactq" ] || fail "/var/lib/iactq is $(stat -c '%a %U:%G' /var/lib/iactq)"
getent passwd iactq | grep -q ':/var/lib/iactq:/usr/sbin/nologin$' || fail "no system user iactq: $(getent passwd iactq)"
pass "package installed: user $(id iactq), iactq.env 0640 root:iactq, /var/lib/iactq 0750 iactq, $(dpkg-query -W iactq)"
doc configure
doc migrate
if block doctor | grep -q .; then doc doctor; fi

# 3. systemctl enable --now returns only once the worker said READY=1.
doc enable
state=$(prop iactq-worker ActiveState)/$(prop iactq-worker SubState)
status=$(prop iactq-worker StatusText)
[ "$state" = active/running ] || fail "right after 'systemctl enable --now' the unit is $state (start returned before READY)"
[ -n "$status" ] || fail "no STATUS yet right after start: READY and STATUS come in one notification"
pass "systemctl start returned with the unit active/running and STATUS=\"$status\" (Type=notify: READY came first)"
line=$(systemctl status iactq-worker --no-pager | grep -m1 'Status: "') || fail "systemctl status shows no Status: line"
pass "systemctl status: $(sed 's/^ *//' <<<"$line")"
if grep -q WARNING <<<"$status"; then fail "the packaged defaults leave a schedule's queue unserved: $status"; fi
pass "packaged files untouched but IACTQ_DSN: no warning of an unserved schedule queue; $(journalctl -u iactq-worker -o cat --no-pager | grep -m1 'worker started')"

# 4. A default schedule's job completes: make its pending occurrence due now (what the
# dashboard's "run now" does) and wait.
wait_until 30 "the health_check schedule's pending occurrence" hc_pending
hc=$(q "SELECT id FROM iactq_jobs WHERE kind = 'health_check' AND state = 'scheduled' ORDER BY id LIMIT 1")
(worker_env && iactq jobs retry "$hc" >/dev/null)
wait_until 60 "health_check job $hc finished" job_finished "$hc"
[ "$(q "SELECT state FROM iactq_jobs WHERE id = $hc")" = completed ] ||
	fail "health_check job $hc: $(q "SELECT state, last_error FROM iactq_jobs WHERE id = $hc")"
pass "default schedule health_check (queue maintenance): job $hc completed"

# 5. systemctl stop drains: nothing left running, nothing lost. More jobs than the
# default queue's 25 slots, so that some are still waiting at the stop.
enqueue stop 40 '{"sleep_ms":3000}'
wait_until 30 "stop-test jobs running" some_running stop
before=$(counts stop)
t=$SECONDS
systemctl stop iactq-worker
after=$(counts stop)
[ "$(n_state stop running)" = 0 ] || fail "after systemctl stop: $after (jobs left running)"
[ "$(n_all stop)" = 40 ] && [ "$(n_state stop discarded)" = 0 ] || fail "after stop: $after (jobs lost)"
pass "systemctl stop drained in $((SECONDS - t))s: before stop {$before} after {$after}"
systemctl start iactq-worker
wait_until 60 "the 40 stop-test jobs completed" all_completed stop 40
pass "after restart: {$(counts stop)}"

# 6. SIGSTOP: the watchdog fires, systemd restarts the worker, its jobs complete.
# (WatchdogSec shortened from 60 s for the test, by a drop-in as an operator would.)
mkdir -p /etc/systemd/system/iactq-worker.service.d
printf '[Service]\nWatchdogSec=6s\n' >/etc/systemd/system/iactq-worker.service.d/proof-watchdog.conf
systemctl daemon-reload
systemctl restart iactq-worker
enqueue sigstop 10 '{"sleep_ms":2000}'
wait_until 30 "sigstop-test jobs running" some_running sigstop
r0=$(prop iactq-worker NRestarts)
pid=$(prop iactq-worker MainPID)
kill -STOP "$pid"
t=$SECONDS
wait_until 60 "a restart after SIGSTOP" restarted_since "$r0"
wait_until 30 "the worker active again" unit_active iactq-worker
r1=$(prop iactq-worker NRestarts)
wd=$(journalctl -u iactq-worker --no-pager -o cat | grep -m1 -i 'watchdog timeout' || true)
[ -n "$wd" ] || fail "no watchdog timeout in the journal"
pass "SIGSTOP of pid $pid: \"$wd\"; restarted after $((SECONDS - t))s, NRestarts $r0 -> $r1, new pid $(prop iactq-worker MainPID)"
wait_until 120 "the 10 sigstop-test jobs completed" all_completed sigstop 10
pass "after the watchdog restart: {$(counts sigstop)}"
rm /etc/systemd/system/iactq-worker.service.d/proof-watchdog.conf
systemctl daemon-reload

# 7. SIGKILL: Restart= brings it back, nothing lost.
systemctl restart iactq-worker
enqueue sigkill 10 '{"sleep_ms":2000}'
wait_until 30 "sigkill-test jobs running" some_running sigkill
r0=$(prop iactq-worker NRestarts)
pid=$(prop iactq-worker MainPID)
kill -KILL "$pid"
t=$SECONDS
wait_until 60 "a restart after SIGKILL" restarted_since "$r0"
pass "SIGKILL of pid $pid: restarted after $((SECONDS - t))s, NRestarts $r0 -> $(prop iactq-worker NRestarts)"
wait_until 120 "the 10 sigkill-test jobs completed" all_completed sigkill 10
[ "$(n_all sigkill)" = 10 ] || fail "sigkill: $(counts sigkill)"
pass "after the SIGKILL restart: {$(counts sigkill)}"

# 8. journald: each job line's fields as IACTQ_ fields (a failing attempt logs at warn).
enqueue journal 1 '{"fail_attempts":1}'
wait_until 60 "the journal-test job completed" all_completed journal 1
jid=$(q "SELECT id FROM iactq_jobs WHERE requested_by = 'journal'")
rec=$(journalctl -u iactq-worker -o json --no-pager IACTQ_JOB_ID="$jid" IACTQ_OUTCOME=retryable | head -1)
[ -n "$rec" ] || fail "journalctl -u iactq-worker IACTQ_JOB_ID=$jid IACTQ_OUTCOME=retryable found nothing"
for f in IACTQ_JOB_ID IACTQ_KIND IACTQ_QUEUE IACTQ_ATTEMPT IACTQ_OUTCOME MESSAGE PRIORITY _SYSTEMD_UNIT; do
	grep -q "\"$f\":" <<<"$rec" || fail "the journal record lacks $f: $rec"
done
if grep -q '"JOB_ID":"'"$jid"'"' <<<"$rec"; then fail "the job id went into systemd's own JOB_ID"; fi
pass "journalctl -u iactq-worker -o json IACTQ_JOB_ID=$jid IACTQ_OUTCOME=retryable:"
grep -oE '"(IACTQ_[A-Z_]*|MESSAGE|PRIORITY|SYSLOG_IDENTIFIER|_SYSTEMD_UNIT)":"([^"\\]|\\.)*"' <<<"$rec" | sed 's/^/    /'

# 9. Two instances side by side, each with its own queues (the main worker stopped, so
# only they can run these jobs).
systemctl stop iactq-worker
doc instances
for i in reports bulk; do
	[ "$(prop "iactq-worker@$i" ActiveState)" = active ] || fail "iactq-worker@$i is $(prop "iactq-worker@$i" ActiveState)"
done
enqueue inst-reports 5 '{"sleep_ms":200}' reports
enqueue inst-bulk 5 '{"sleep_ms":200}' bulk
wait_until 60 "the reports-queue jobs completed by iactq-worker@reports" all_completed inst-reports 5
wait_until 60 "the bulk-queue jobs completed by iactq-worker@bulk" all_completed inst-bulk 5
pass "iactq-worker@reports: \"$(prop iactq-worker@reports StatusText)\""
pass "iactq-worker@bulk: \"$(prop iactq-worker@bulk StatusText)\""
pass "instances: queue reports {$(counts inst-reports)}, queue bulk {$(counts inst-bulk)}; workers:"
(worker_env && iactq workers) | sed 's/^/    /'
systemctl disable --now iactq-worker@reports iactq-worker@bulk
systemctl start iactq-worker

# 10. The deploy kind's restart step, from the hardened unit, through polkit.
doc deploy-restart
systemctl restart iactq-worker
web0=$(prop iact-web InvocationID)
(worker_env && iactq enqueue deploy --args '{"env": "production", "revision": "v1.2.3"}' --requested-by proof >/dev/null)
wait_until 120 "the deploy finished" deploy_finished
dstate=$(q "SELECT state FROM iactq_deploys ORDER BY id DESC LIMIT 1")
[ "$dstate" = succeeded ] || fail "deploy $dstate: $(worker_env && iactq deploys show 1 2>&1 | tail -20)"
web1=$(prop iact-web InvocationID)
[ "$web0" != "$web1" ] && [ "$(prop iact-web ActiveState)" = active ] || fail "iact-web was not restarted ($web0 -> $web1)"
pass "deploy succeeded; its restart step ran 'systemctl restart iact-web.service' as user iactq under NoNewPrivileges=yes (polkit rule): iact-web InvocationID $web0 -> $web1"

# 11. The sandbox's exposure.
sec=$(systemd-analyze security iactq-worker --no-pager 2>&1 | grep 'Overall exposure level')
score=$(sed -E 's/.*: ([0-9.]+) .*/\1/' <<<"$sec")
awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "systemd-analyze security: $sec (want <= 3.0)"
pass "systemd-analyze security iactq-worker: $sec"

# 12. Upgrade to the new build: the edited conffile kept, workers restarted one at a
# time after the migration, nothing lost.
enqueue upgrade 20 '{"sleep_ms":500}'
cd "$PROOF"
doc upgrade
grep -q "^IACTQ_DSN='iactq:CHANGE-ME-worker@" /etc/iactq/iactq.env || fail "the upgrade replaced the edited /etc/iactq/iactq.env"
[ "$(stat -c '%a %U:%G' /etc/iactq/iactq.env)" = "640 root:iactq" ] || fail "after the upgrade iactq.env is $(stat -c '%a %U:%G' /etc/iactq/iactq.env)"
[ "$(dpkg-query -W -f '${Version}' iactq)" != 0~proof.old ] || fail "still the old version"
wait_until 120 "the 20 upgrade-test jobs completed" all_completed upgrade 20
pass "upgraded 0~proof.old -> $(dpkg-query -W -f '${Version}' iactq) ($(iactq --version)); edited iactq.env kept (0640 root:iactq); jobs during the upgrade {$(counts upgrade)}"

# 13. Remove keeps the configuration; purge removes it.
apt-get remove -y iactq >/dev/null 2>&1 || fail "apt-get remove failed"
[ ! -e /usr/bin/iactq ] && [ -f /etc/iactq/iactq.env ] || fail "after remove: binary $(ls /usr/bin/iactq 2>&1), env $(ls /etc/iactq 2>&1)"
[ "$(prop iactq-worker ActiveState)" != active ] || fail "the worker still runs after remove"
apt-get purge -y iactq >/dev/null 2>&1 || fail "apt-get purge failed"
[ ! -e /etc/iactq ] && [ ! -e /var/lib/iactq ] || fail "after purge: $(ls -d /etc/iactq /var/lib/iactq 2>&1)"
pass "remove: binary gone, worker stopped, /etc/iactq kept; purge: /etc/iactq and /var/lib/iactq gone (user iactq kept)"

say "ALL CHECKS PASSED in $((SECONDS - T0))s"
