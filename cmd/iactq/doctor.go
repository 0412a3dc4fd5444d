package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"

	"github.com/iact/iactq/queue"
)

// The statements doctor runs read the server's own state (version, variables, grants,
// clock): like queue's binary-log probe they are introspection, not the application's
// queries, so they stay next to the checks that read them.
const (
	doctorServerSQL = "SELECT VERSION(), @@version_comment"
	doctorTimeSQL   = "SELECT @@session.time_zone, @@global.time_zone, @@system_time_zone, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW()), @@session.sql_mode"
	doctorClockSQL  = "SELECT UTC_TIMESTAMP(6)"
	doctorUserSQL   = "SELECT CURRENT_USER()"
	doctorGrantsSQL = "SHOW GRANTS"
	doctorBinlogSQL = "SELECT @@log_bin, @@binlog_format, @@server_id"
)

// Doctor's verdicts.
const (
	doctorOK   = "ok"
	doctorWarn = "WARN"
	doctorFail = "FAIL"
)

// doctorResult is one checked point: its verdict, what was found and, unless ok, what
// to do about it.
type doctorResult struct {
	Check  string
	Status string
	Detail string
	Fix    string
}

func (a *app) doctorCmd() *cobra.Command {
	var admin bool
	var binlogDSN string
	cmd := &cobra.Command{
		Use:   "doctor [--admin] [--binlog-dsn DSN]",
		Short: "Check a DSN and its server for what iactq needs, and say what to fix",
		Long: `doctor connects with the DSN (--dsn or IACTQ_DSN) and checks, one line each:
the server's version and SKIP LOCKED support (MariaDB 10.6+, MySQL 8.0.1+; TiDB
refused), the session's and the server's time zone, the session's sql_mode, the
user's grants (too few and, for a worker, too many), the binary log and which
wake-ups the fleet will use, the schema's migrations, and the clock difference
between this host and the server.

Wake-ups: with a binlog DSN (--binlog-dsn or IACTQ_BINLOG_DSN) the leader follows
the binary log with it, and doctor fails when it cannot (log_bin off, binlog_format
not ROW, no BINLOG MONITOR / REPLICATION CLIENT) and warns when SHOW GRANTS shows no
REPLICATION SLAVE. Unset, the leader tries the worker's own DSN: doctor checks the
same with it (not with --admin) and says whether the fleet will follow the log or
poll, and why; polling is not a failure. "off" makes the fleet poll without trying.

Each line is "ok", "WARN" or "FAIL", followed by what to fix. The DSN is a worker's
unless --admin says it is the one 'iactq migrate' runs with (DDL expected).

Exit status: 0 nothing failed (warnings allowed), 1 something must be fixed (or the
server cannot be reached), 2 bad usage.`,
		Example: `  IACTQ_DSN='iactq:...@tcp(127.0.0.1:3306)/iact' iactq doctor
  iactq doctor --admin --dsn 'iactq_admin:...@tcp(127.0.0.1:3306)/iact'`,
		Args: cobra.NoArgs,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			dsn, err := a.dsnValue()
			if err != nil {
				return err
			}
			binlogFrom := "--binlog-dsn"
			if binlogDSN == "" {
				binlogDSN, binlogFrom = a.getenv("IACTQ_BINLOG_DSN"), "IACTQ_BINLOG_DSN"
			}
			if binlogDSN != "" && !strings.EqualFold(strings.TrimSpace(binlogDSN), queue.BinlogOff) {
				if _, err := queue.ParseDSN(binlogDSN); err != nil {
					return &usageError{err: fmt.Errorf("binlog DSN: %w", err)}
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "iactq doctor: %s (%s DSN)\n", queue.RedactDSN(dsn), map[bool]string{false: "worker", true: "admin"}[admin])
			results := a.doctor(cmd.Context(), dsn, doctorBinlogDSN{dsn: binlogDSN, from: binlogFrom}, admin)
			failed := 0
			for _, r := range results {
				fmt.Fprintf(out, "%-4s  %-10s %s\n", r.Status, r.Check, r.Detail)
				for i, l := range strings.Split(r.Fix, "\n") {
					if l == "" {
						continue
					}
					label := "fix:"
					if i > 0 {
						label = "    "
					}
					fmt.Fprintf(out, "      %-10s %s %s\n", "", label, l)
				}
				if r.Status == doctorFail {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("doctor: %d check(s) failed", failed)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&admin, "admin", false, "the DSN is the admin's (iactq migrate): DDL expected, not too much")
	cmd.Flags().StringVar(&binlogDSN, "binlog-dsn", "", "check this binary-log DSN, as 'iactq work' would use it; \"off\": the fleet polls (default $IACTQ_BINLOG_DSN, else the worker's own DSN is checked)")
	return cmd
}

// doctor runs every check; it stops after the first only if the server is unreachable.
func (a *app) doctor(ctx context.Context, dsn string, binlog doctorBinlogDSN, admin bool) []doctorResult {
	db, err := a.openDB(ctx)
	if err != nil {
		return []doctorResult{{Check: "connect", Status: doctorFail, Detail: err.Error(),
			Fix: "check the host, port, user and password of the DSN, and that the server runs and accepts TCP connections from this host"}}
	}
	defer db.Close()
	cfg, _ := queue.ParseDSN(dsn)
	raw, _ := mysql.ParseDSN(dsn) // the DSN as written: ParseDSN sets time_zone
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var results []doctorResult
	add := func(r doctorResult) { results = append(results, r) }

	var version, comment string
	if err := db.QueryRowContext(ctx, doctorServerSQL).Scan(&version, &comment); err != nil {
		add(doctorResult{Check: "server", Status: doctorFail, Detail: fmt.Sprintf("cannot read the version: %v", err)})
	} else {
		add(checkServerVersion(version, comment))
	}

	var sessionTZ, globalTZ, systemTZ, sqlMode string
	var offset int64
	if err := db.QueryRowContext(ctx, doctorTimeSQL).Scan(&sessionTZ, &globalTZ, &systemTZ, &offset, &sqlMode); err != nil {
		add(doctorResult{Check: "time zone", Status: doctorFail, Detail: fmt.Sprintf("cannot read it: %v", err)})
	} else {
		add(checkTimeZone(sessionTZ, globalTZ, systemTZ, offset, raw))
		add(checkSQLMode(sqlMode))
	}

	account, grants, grantsErr := readGrants(ctx, db)
	add(doctorGrants(account, grants, grantsErr, cfg.DBName, admin))
	add(doctorBinlog(ctx, db, binlog, binlogOwn{dsn: dsn, user: raw.User, grants: grants, grantsErr: grantsErr, admin: admin}))
	add(doctorSchema(ctx, db, admin))
	add(doctorClock(ctx, db))
	return results
}

var versionRe = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)`)

// checkServerVersion refuses servers without a working SKIP LOCKED.
func checkServerVersion(version, comment string) doctorResult {
	r := doctorResult{Check: "server"}
	all := version + " " + comment
	m := versionRe.FindStringSubmatch(version)
	if strings.Contains(strings.ToLower(all), "tidb") {
		r.Status, r.Detail = doctorFail, fmt.Sprintf("TiDB (%s): it parses SELECT ... FOR UPDATE SKIP LOCKED and does not lock, so two workers would run the same job", version)
		r.Fix = "use MariaDB 10.6+ or MySQL 8.0.1+"
		return r
	}
	if m == nil {
		r.Status, r.Detail, r.Fix = doctorFail, fmt.Sprintf("unrecognised version %q", version), "use MariaDB 10.6+ or MySQL 8.0.1+"
		return r
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	patch, _ := strconv.Atoi(m[3])
	at := func(a, b, c int) bool { return major > a || major == a && (minor > b || minor == b && patch >= c) }
	if strings.Contains(strings.ToLower(all), "mariadb") {
		if !at(10, 6, 0) {
			r.Status, r.Detail, r.Fix = doctorFail, fmt.Sprintf("MariaDB %s has no SKIP LOCKED (10.6+ has)", version), "upgrade to MariaDB 10.6 or later (Debian 12: 10.11)"
			return r
		}
		r.Status, r.Detail = doctorOK, fmt.Sprintf("MariaDB %s: SKIP LOCKED supported", version)
		return r
	}
	if !at(8, 0, 1) {
		r.Status, r.Detail, r.Fix = doctorFail, fmt.Sprintf("MySQL %s has no SKIP LOCKED (8.0.1+ has)", version), "upgrade to MySQL 8.0 or 8.4"
		return r
	}
	r.Status, r.Detail = doctorOK, fmt.Sprintf("MySQL %s: SKIP LOCKED supported", version)
	return r
}

// checkTimeZone: iactq's sessions must be UTC; the server's default should be too,
// so that plain SQL's NOW() agrees with iactq's times.
func checkTimeZone(sessionTZ, globalTZ, systemTZ string, offset int64, cfg *mysql.Config) doctorResult {
	r := doctorResult{Check: "time zone"}
	if offset != 0 {
		r.Status = doctorFail
		r.Detail = fmt.Sprintf("this session's NOW() is %+ds from UTC (time_zone %s): iactq's times would be off", offset, sessionTZ)
		r.Fix = "do not override time_zone in the DSN or in an init_connect of the server; iactq sets '+00:00'"
		return r
	}
	if tz, ok := cfg.Params["time_zone"]; ok && tz != "'+00:00'" {
		r.Status, r.Detail = doctorWarn, fmt.Sprintf("the DSN sets time_zone=%s, which iactq replaces with '+00:00'", tz)
		r.Fix = "remove time_zone from the DSN"
		return r
	}
	global := globalTZ
	if global == "SYSTEM" {
		global = "SYSTEM (" + systemTZ + ")"
	}
	if !isUTC(globalTZ, systemTZ) {
		r.Status = doctorWarn
		r.Detail = fmt.Sprintf("sessions UTC (iactq sets it); the server's default is %s, so applications inserting jobs with plain SQL and NOW() write local times", global)
		r.Fix = "default-time-zone = '+00:00' in the server's [mysqld] section (or insert with UTC_TIMESTAMP())"
		return r
	}
	r.Status, r.Detail = doctorOK, fmt.Sprintf("sessions UTC; server default %s", global)
	return r
}

func isUTC(globalTZ, systemTZ string) bool {
	utc := func(s string) bool {
		switch strings.ToUpper(s) {
		case "+00:00", "UTC", "ETC/UTC", "GMT", "Z", "UNIVERSAL", "ZULU", "COORDINATED UNIVERSAL TIME":
			return true
		}
		return false
	}
	if globalTZ == "SYSTEM" {
		return utc(systemTZ)
	}
	return utc(globalTZ)
}

// checkSQLMode: a lax session stores out-of-range values instead of refusing them.
func checkSQLMode(mode string) doctorResult {
	r := doctorResult{Check: "sql_mode"}
	flags := map[string]bool{}
	for _, f := range strings.Split(strings.ToUpper(mode), ",") {
		flags[strings.TrimSpace(f)] = true
	}
	shown := mode
	if shown == "" {
		shown = "''"
	}
	if !flags["STRICT_TRANS_TABLES"] && !flags["STRICT_ALL_TABLES"] {
		r.Status = doctorFail
		r.Detail = fmt.Sprintf("%s is not strict: bad dates become 0000-00-00 and too-long values are cut instead of refused", shown)
		r.Fix = "keep STRICT_TRANS_TABLES: remove sql_mode from the DSN, or restore the server's default (sql_mode in [mysqld])"
		return r
	}
	r.Status, r.Detail = doctorOK, shown
	return r
}

// grantRe reads one line of SHOW GRANTS.
var grantRe = regexp.MustCompile(`^GRANT (.+) ON (\S+) TO .*?( WITH GRANT OPTION)?$`)

// privileges a worker needs, and the admin's DDL besides.
var (
	workerPrivs = []string{"SELECT", "INSERT", "UPDATE", "DELETE"}
	adminPrivs  = []string{"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "INDEX"}
)

// readGrants reads the current account (CURRENT_USER()) and its SHOW GRANTS lines.
func readGrants(ctx context.Context, db *sql.DB) (account string, grants []string, err error) {
	if err := db.QueryRowContext(ctx, doctorUserSQL).Scan(&account); err != nil {
		return "", nil, fmt.Errorf("cannot read the current user: %w", err)
	}
	rows, err := db.QueryContext(ctx, doctorGrantsSQL)
	if err != nil {
		return account, nil, fmt.Errorf("SHOW GRANTS: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return account, nil, fmt.Errorf("SHOW GRANTS: %w", err)
		}
		grants = append(grants, g)
	}
	if err := rows.Err(); err != nil {
		return account, nil, fmt.Errorf("SHOW GRANTS: %w", err)
	}
	return account, grants, nil
}

// doctorGrants judges the user's grants (readGrants') on the DSN's schema and
// server-wide.
func doctorGrants(account string, grants []string, err error, schema string, admin bool) doctorResult {
	if err != nil {
		return doctorResult{Check: "grants", Status: doctorFail, Detail: err.Error()}
	}
	return checkGrants(quoteAccount(account), schema, grants, admin)
}

// quoteAccount turns CURRENT_USER()'s user@host into 'user'@'host'.
func quoteAccount(user string) string {
	at := strings.LastIndex(user, "@")
	if at < 0 {
		return "'" + user + "'"
	}
	return "'" + user[:at] + "'@'" + user[at+1:] + "'"
}

// checkGrants compares the grants (SHOW GRANTS lines) on schema and *.* with what the
// DSN's role needs.
func checkGrants(account, schema string, grants []string, admin bool) doctorResult {
	r := doctorResult{Check: "grants"}
	if schema == "" {
		r.Status, r.Detail, r.Fix = doctorFail, "the DSN names no database", "end the DSN with /SCHEMA, e.g. .../iact"
		return r
	}
	onSchema, global := map[string]bool{}, map[string]bool{}
	grantOption := false
	for _, g := range grants {
		m := grantRe.FindStringSubmatch(g)
		if m == nil {
			continue // roles, proxies
		}
		obj := strings.ReplaceAll(m[2], "`", "")
		var set map[string]bool
		switch {
		case obj == "*.*":
			set = global
		case obj == schema+".*" || strings.EqualFold(obj, schema+".*"):
			set = onSchema
		default:
			continue // table-level grants
		}
		if m[3] != "" {
			grantOption = true
		}
		for _, p := range strings.Split(m[1], ",") {
			p = strings.ToUpper(strings.TrimSpace(p))
			if p == "ALL" {
				p = "ALL PRIVILEGES"
			}
			set[p] = true
		}
	}
	has := func(p string) bool {
		return onSchema[p] || onSchema["ALL PRIVILEGES"] || global[p] || global["ALL PRIVILEGES"]
	}
	need := workerPrivs
	if admin {
		need = adminPrivs
	}
	var missing []string
	for _, p := range need {
		if !has(p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		r.Status = doctorFail
		r.Detail = fmt.Sprintf("%s lacks %s on %s", account, strings.Join(missing, ", "), schema)
		r.Fix = fmt.Sprintf("GRANT %s ON %s.* TO %s;", strings.Join(need, ", "), schema, account)
		return r
	}
	var extra []string
	for p := range global {
		if p != "USAGE" {
			extra = append(extra, p+" ON *.*")
		}
	}
	if !admin {
		for p := range onSchema {
			if !contains(workerPrivs, p) {
				extra = append(extra, p+" ON "+schema+".*")
			}
		}
	}
	if grantOption {
		extra = append(extra, "GRANT OPTION")
	}
	if len(extra) > 0 {
		sortStrings(extra)
		r.Status = doctorWarn
		r.Detail = fmt.Sprintf("%s has more than it needs: %s", account, strings.Join(extra, ", "))
		if admin {
			r.Fix = fmt.Sprintf("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s;\nGRANT ALL PRIVILEGES ON %s.* TO %s;", account, schema, account)
		} else {
			r.Fix = fmt.Sprintf("workers need only rows: REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s;\nGRANT %s ON %s.* TO %s;  (keep DDL for the admin DSN of iactq migrate)",
				account, strings.Join(workerPrivs, ", "), schema, account)
		}
		return r
	}
	r.Status = doctorOK
	r.Detail = fmt.Sprintf("%s: %s on %s", account, strings.Join(need, ", "), schema)
	if !admin {
		r.Detail += ", nothing more"
	}
	return r
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// doctorBinlogDSN is the binary-log DSN doctor was given and where from (--binlog-dsn
// or IACTQ_BINLOG_DSN): empty, automatic; queue.BinlogOff (any case), off.
type doctorBinlogDSN struct{ dsn, from string }

// binlogOwn is what doctor knows of the DSN it checks, which the leader tries for
// the binary log when no binlog DSN is set.
type binlogOwn struct {
	dsn, user string   // the DSN and its user name
	grants    []string // its SHOW GRANTS lines
	grantsErr error    // why they could not be read
	admin     bool     // the DSN is the admin's, not a worker's
}

// binlogFacts is what doctorBinlog found, for checkBinlog to judge.
type binlogFacts struct {
	logBin   int
	format   string
	serverID int64
	binlog   doctorBinlogDSN
	own      binlogOwn
	// position is CheckBinlogDSN's answer for the DSN the leader would follow with
	// (the binlog DSN, or the worker's own), when the server's settings allow it.
	position error
	// replSlave tells whether that DSN's user has REPLICATION SLAVE (replErr: the
	// grants could not be read).
	replSlave bool
	replErr   error
}

// doctorBinlog checks the binary log and says which wake-ups the fleet's leader will
// use: it follows the log with the binlog DSN when one is set (a failure when it
// cannot), polls when it is off, else tries the worker's own DSN (polling then is no
// failure: doctor says why).
func doctorBinlog(ctx context.Context, db *sql.DB, binlog doctorBinlogDSN, own binlogOwn) doctorResult {
	f := binlogFacts{binlog: binlog, own: own}
	if err := db.QueryRowContext(ctx, doctorBinlogSQL).Scan(&f.logBin, &f.format, &f.serverID); err != nil {
		return doctorResult{Check: "binary log", Status: doctorFail, Detail: fmt.Sprintf("cannot read log_bin: %v", err)}
	}
	if strings.EqualFold(strings.TrimSpace(binlog.dsn), queue.BinlogOff) || f.logBin != 1 || !strings.EqualFold(f.format, "ROW") {
		return checkBinlog(f)
	}
	switch {
	case binlog.dsn != "":
		f.position = queue.CheckBinlogDSN(ctx, binlog.dsn)
		if f.position == nil {
			f.replSlave, f.replErr = binlogDSNHasReplicationSlave(ctx, binlog.dsn)
		}
	case !own.admin:
		f.position = queue.CheckBinlogDSN(ctx, own.dsn)
		f.replSlave, f.replErr = hasGlobalPrivilege(own.grants, "REPLICATION SLAVE", "REPLICATION REPLICA"), own.grantsErr
	}
	return checkBinlog(f)
}

// binlogDSNHasReplicationSlave reads the grants of the binlog DSN's user.
func binlogDSNHasReplicationSlave(ctx context.Context, dsn string) (bool, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return false, err
	}
	cfg.DBName = "" // the replication user needs no database, as the leader connects
	db, err := queue.OpenDB(cfg.FormatDSN())
	if err != nil {
		return false, err
	}
	defer db.Close()
	_, grants, err := readGrants(ctx, db)
	return hasGlobalPrivilege(grants, "REPLICATION SLAVE", "REPLICATION REPLICA"), err
}

// hasGlobalPrivilege tells whether the SHOW GRANTS lines give one of privs (or ALL)
// on *.*.
func hasGlobalPrivilege(grants []string, privs ...string) bool {
	for _, g := range grants {
		m := grantRe.FindStringSubmatch(g)
		if m == nil || strings.ReplaceAll(m[2], "`", "") != "*.*" {
			continue
		}
		for _, p := range strings.Split(m[1], ",") {
			p = strings.ToUpper(strings.TrimSpace(p))
			if p == "ALL" || p == "ALL PRIVILEGES" || slices.Contains(privs, p) {
				return true
			}
		}
	}
	return false
}

// binlogRefusal is the reason in a refusal of the server (a missing privilege) that
// CheckBinlogDSN returned, as the leader logs it, or "" when err is no refusal.
func binlogRefusal(err error) string {
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1227 && me.Number != 1044 && me.Number != 1045 {
		return ""
	}
	return strings.TrimSuffix(err.Error(), ": "+me.Error())
}

// checkBinlog judges binlogFacts: the server's settings, then which wake-ups the
// fleet will use with them.
func checkBinlog(f binlogFacts) doctorResult {
	r := doctorResult{Check: "binary log"}
	state := fmt.Sprintf("log_bin=%d binlog_format=%s server_id=%d", f.logBin, f.format, f.serverID)
	settings := ""
	switch {
	case f.logBin != 1:
		settings = "the binary log is off on the server (log_bin=OFF)"
	case !strings.EqualFold(f.format, "ROW"):
		settings = fmt.Sprintf("binlog_format is %s on the server, not ROW", f.format)
	}
	const polls = "the fleet will poll (the leader reads the claim heads every poll_interval)"
	switch dsn := strings.TrimSpace(f.binlog.dsn); {
	case strings.EqualFold(dsn, queue.BinlogOff):
		r.Status = doctorOK
		r.Detail = fmt.Sprintf("%s; %s=off: %s and does not try the binary log", state, f.binlog.from, polls)
	case dsn != "":
		switch {
		case settings != "":
			r.Status, r.Detail = doctorFail, fmt.Sprintf("%s: %s is set but %s; wake-ups need the log on, in ROW format", state, f.binlog.from, settings)
			r.Fix = fmt.Sprintf("log-bin, binlog-format = ROW and server-id in the server's [mysqld] section, then restart it (or unset %s, or set it to off)", f.binlog.from)
		case f.position != nil:
			r.Status, r.Detail = doctorFail, fmt.Sprintf("%s; the binlog DSN cannot follow it: %v", state, f.position)
			r.Fix = "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO the binlog user (MySQL: REPLICATION SLAVE, REPLICATION CLIENT)"
		case f.replErr != nil:
			r.Status, r.Detail = doctorWarn, fmt.Sprintf("%s; the binlog DSN reads the log position, but its grants could not be read (%v): the leader needs REPLICATION SLAVE to follow", state, f.replErr)
			r.Fix = "GRANT REPLICATION SLAVE ON *.* TO the binlog user, if it lacks it"
		case !f.replSlave:
			// A warning: the privilege may come with a role SHOW GRANTS does not expand.
			r.Status, r.Detail = doctorWarn, fmt.Sprintf("%s; the binlog DSN reads the log position, but its user has no REPLICATION SLAVE in SHOW GRANTS: without it the leader cannot follow the log, and polls and warns", state)
			r.Fix = "GRANT REPLICATION SLAVE ON *.* TO the binlog user"
		default:
			r.Status, r.Detail = doctorOK, state+"; the binlog DSN can follow it: the fleet will follow the binary log (instant wake-ups)"
		}
	case f.own.admin:
		r.Status = doctorOK
		r.Detail = fmt.Sprintf("%s; no IACTQ_BINLOG_DSN: the leader will try the binary log with the worker's own DSN (run iactq doctor with that DSN, without --admin, to see whether it can)", state)
		if settings != "" {
			r.Detail = fmt.Sprintf("%s; no IACTQ_BINLOG_DSN: %s, because %s", state, polls, settings)
		}
	default:
		const instead = "for instant wake-ups set IACTQ_BINLOG_DSN to a replication user's DSN (docs/wakeups.md); IACTQ_BINLOG_DSN=off skips the check"
		var why string
		switch {
		case settings != "":
			why = settings
		case f.position != nil && binlogRefusal(f.position) == "":
			r.Status = doctorWarn
			r.Detail = fmt.Sprintf("%s; no IACTQ_BINLOG_DSN: the leader will try the binary log with the worker's own DSN, but doctor could not tell whether it can (%v); it polls while it cannot", state, f.position)
			return r
		case f.position != nil:
			why = binlogRefusal(f.position)
		case f.replErr != nil:
			r.Status = doctorWarn
			r.Detail = fmt.Sprintf("%s; no IACTQ_BINLOG_DSN: the worker's own DSN reads the log position, but its grants could not be read (%v): the leader follows the binary log with it if its user has REPLICATION SLAVE, else polls", state, f.replErr)
			return r
		case !f.replSlave:
			why = fmt.Sprintf("user %s lacks REPLICATION SLAVE (none in SHOW GRANTS)", f.own.user)
		default:
			r.Status = doctorOK
			r.Detail = state + "; no IACTQ_BINLOG_DSN: the fleet will follow the binary log with the worker's own DSN (instant wake-ups; IACTQ_BINLOG_DSN=off polls instead)"
			return r
		}
		r.Status = doctorOK
		r.Detail = fmt.Sprintf("%s; no IACTQ_BINLOG_DSN: %s, because %s; %s", state, polls, why, instead)
	}
	return r
}

// doctorSchema compares the applied migrations with this build's.
func doctorSchema(ctx context.Context, db *sql.DB, admin bool) doctorResult {
	r := doctorResult{Check: "schema"}
	pending, unknown, err := queue.SchemaDiff(ctx, db)
	if err != nil {
		r.Status, r.Detail = doctorFail, fmt.Sprintf("cannot read the applied migrations: %v", err)
		return r
	}
	if len(unknown) > 0 {
		r.Status = doctorFail
		r.Detail = fmt.Sprintf("migrations %v are applied but unknown to this iactq (%s): the schema is newer", unknown, version)
		r.Fix = "upgrade iactq on this host to the version that migrated the schema"
		return r
	}
	if len(pending) > 0 {
		r.Status = doctorFail
		r.Detail = fmt.Sprintf("%d migration(s) not applied (%v): workers refuse to start", len(pending), pending)
		r.Fix = "IACTQ_DSN=<admin DSN> iactq migrate"
		if admin {
			r.Fix = "iactq migrate (with this DSN)"
		}
		return r
	}
	r.Status, r.Detail = doctorOK, "every migration of this iactq is applied"
	return r
}

// doctorClock measures the server's clock against this host's, at the middle of the
// round trip.
func doctorClock(ctx context.Context, db *sql.DB) doctorResult {
	r := doctorResult{Check: "clock"}
	var server time.Time
	start := time.Now()
	if err := db.QueryRowContext(ctx, doctorClockSQL).Scan(&server); err != nil {
		r.Status, r.Detail = doctorFail, fmt.Sprintf("cannot read the server's clock: %v", err)
		return r
	}
	rtt := time.Since(start)
	skew := server.Sub(start.Add(rtt / 2))
	return clockVerdict(skew, rtt)
}

func clockVerdict(skew, rtt time.Duration) doctorResult {
	r := doctorResult{Check: "clock"}
	abs := skew
	if abs < 0 {
		abs = -abs
	}
	d := fmt.Sprintf("server %+.3fs from this host (round trip %s)", skew.Seconds(), rtt.Round(time.Millisecond))
	switch {
	case abs > 5*time.Second:
		r.Status, r.Detail = doctorFail, d+": heartbeats, rescues and schedules compare the two"
		r.Fix = "synchronise both clocks (systemd-timesyncd or chrony on this host and the database server)"
	case abs > time.Second:
		r.Status, r.Detail = doctorWarn, d
		r.Fix = "synchronise both clocks (systemd-timesyncd or chrony)"
	default:
		r.Status, r.Detail = doctorOK, d
	}
	return r
}
