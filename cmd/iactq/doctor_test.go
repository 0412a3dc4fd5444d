package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/iact/iactq/queue"
)

func TestCheckServerVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version, comment, want string
	}{
		{"10.11.6-MariaDB-0+deb12u1", "Debian 12", doctorOK},
		{"10.6.0-MariaDB", "", doctorOK},
		{"10.5.22-MariaDB", "", doctorFail},
		{"8.0.1", "MySQL Community Server", doctorOK},
		{"8.0.0-dmr", "MySQL Community Server", doctorFail},
		{"5.7.44", "MySQL Community Server (GPL)", doctorFail},
		{"8.4.3", "MySQL Community Server - GPL", doctorOK},
		{"8.0.11-TiDB-v7.5.0", "", doctorFail},
		{"5.7.25-TiDB-v6.5.0", "TiDB Server", doctorFail},
		{"banana", "", doctorFail},
	} {
		if got := checkServerVersion(tc.version, tc.comment); got.Status != tc.want || (got.Status == doctorFail) != (got.Fix != "") {
			t.Errorf("%s (%s): %+v, want %s with a fix when failing", tc.version, tc.comment, got, tc.want)
		}
	}
}

func TestCheckGrants(t *testing.T) {
	t.Parallel()
	const acct = "'iactq'@'10.0.0.%'"
	for _, tc := range []struct {
		name   string
		grants []string
		admin  bool
		want   string
		detail string
	}{
		{"worker exact", []string{"GRANT USAGE ON *.* TO `iactq`@`10.0.0.%`", "GRANT SELECT, INSERT, UPDATE, DELETE ON `iact`.* TO `iactq`@`10.0.0.%`"}, false, doctorOK, "nothing more"},
		{"worker lacks delete", []string{"GRANT SELECT, INSERT, UPDATE ON `iact`.* TO `iactq`@`10.0.0.%`"}, false, doctorFail, "lacks DELETE"},
		{"worker on another schema", []string{"GRANT SELECT, INSERT, UPDATE, DELETE ON `other`.* TO `iactq`@`10.0.0.%`"}, false, doctorFail, "lacks SELECT, INSERT, UPDATE, DELETE on iact"},
		{"worker with DDL", []string{"GRANT ALL PRIVILEGES ON `iact`.* TO `iactq`@`10.0.0.%`"}, false, doctorWarn, "ALL PRIVILEGES ON iact.*"},
		{"worker server-wide", []string{"GRANT ALL PRIVILEGES ON *.* TO `iactq`@`10.0.0.%` WITH GRANT OPTION"}, false, doctorWarn, "ALL PRIVILEGES ON *.*, GRANT OPTION"},
		{"admin exact", []string{"GRANT ALL PRIVILEGES ON `iact`.* TO `iactq`@`10.0.0.%`"}, true, doctorOK, "CREATE, ALTER, DROP, INDEX"},
		{"admin without DDL", []string{"GRANT SELECT, INSERT, UPDATE, DELETE ON `iact`.* TO `iactq`@`10.0.0.%`"}, true, doctorFail, "lacks CREATE, ALTER, DROP, INDEX"},
	} {
		got := checkGrants(acct, "iact", tc.grants, tc.admin)
		if got.Status != tc.want || !strings.Contains(got.Detail, tc.detail) || (got.Status != doctorOK) != (got.Fix != "") {
			t.Errorf("%s: %+v, want %s with %q", tc.name, got, tc.want, tc.detail)
		}
	}
}

func TestCheckTimeZoneAndMode(t *testing.T) {
	t.Parallel()
	none := &mysql.Config{Params: map[string]string{}}
	for _, tc := range []struct {
		session, global, system string
		offset                  int64
		cfg                     *mysql.Config
		want                    string
	}{
		{"+00:00", "SYSTEM", "UTC", 0, none, doctorOK},
		{"+00:00", "+00:00", "CET", 0, none, doctorOK},
		{"+00:00", "SYSTEM", "CET", 0, none, doctorWarn},
		{"+00:00", "Europe/Madrid", "UTC", 0, none, doctorWarn},
		{"+02:00", "SYSTEM", "UTC", 7200, none, doctorFail},
		{"+00:00", "SYSTEM", "UTC", 0, &mysql.Config{Params: map[string]string{"time_zone": "'+05:00'"}}, doctorWarn},
	} {
		if got := checkTimeZone(tc.session, tc.global, tc.system, tc.offset, tc.cfg); got.Status != tc.want {
			t.Errorf("%+v: %+v, want %s", tc, got, tc.want)
		}
	}
	for mode, want := range map[string]string{
		"STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION":      doctorOK,
		"ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO": doctorOK,
		"STRICT_ALL_TABLES":      doctorOK,
		"":                       doctorFail,
		"NO_ENGINE_SUBSTITUTION": doctorFail,
	} {
		if got := checkSQLMode(mode); got.Status != want {
			t.Errorf("sql_mode %q: %+v, want %s", mode, got, want)
		}
	}
	for _, tc := range []struct {
		skew time.Duration
		want string
	}{{0, doctorOK}, {-900 * time.Millisecond, doctorOK}, {2 * time.Second, doctorWarn}, {-7 * time.Second, doctorFail}} {
		if got := clockVerdict(tc.skew, time.Millisecond); got.Status != tc.want {
			t.Errorf("skew %s: %+v, want %s", tc.skew, got, tc.want)
		}
	}
}

// TestCheckBinlog: doctor says which wake-ups the fleet will use. A binlog DSN that
// cannot follow the log fails; "off" polls, no failure; unset (automatic), the worker's
// own DSN is judged as the leader would try it, and polling is no failure: the line
// says why.
func TestCheckBinlog(t *testing.T) {
	t.Parallel()
	const explicit = "iactq_binlog:pw@tcp(127.0.0.1:3306)/"
	env := doctorBinlogDSN{from: "IACTQ_BINLOG_DSN"}
	with := func(dsn, from string) doctorBinlogDSN { return doctorBinlogDSN{dsn: dsn, from: from} }
	worker := binlogOwn{dsn: "iactq:pw@tcp(127.0.0.1:3306)/iact", user: "iactq"}
	admin := worker
	admin.admin = true
	refused := fmt.Errorf("user iactq lacks BINLOG MONITOR, to read the binary log position: %w",
		&mysql.MySQLError{Number: 1227, SQLState: [5]byte{'4', '2', '0', '0', '0'}, Message: "Access denied; you need (at least one of) the BINLOG MONITOR privilege(s) for this operation"})
	away := errors.New("read the server's binary-log settings: i/o timeout")
	for _, tc := range []struct {
		name     string
		f        binlogFacts
		status   string
		detail   []string
		nodetail []string
	}{
		{"off", binlogFacts{logBin: 1, format: "ROW", binlog: with("off", "IACTQ_BINLOG_DSN"), own: worker}, doctorOK,
			[]string{"IACTQ_BINLOG_DSN=off: the fleet will poll", "does not try the binary log"}, []string{"invalid"}},
		{"off by flag, log off", binlogFacts{logBin: 0, format: "MIXED", binlog: with("OFF", "--binlog-dsn"), own: worker}, doctorOK,
			[]string{"--binlog-dsn=off: the fleet will poll"}, nil},
		{"explicit follows", binlogFacts{logBin: 1, format: "ROW", binlog: with(explicit, "IACTQ_BINLOG_DSN"), own: worker, replSlave: true}, doctorOK,
			[]string{"the binlog DSN can follow it: the fleet will follow the binary log"}, nil},
		{"explicit, log off", binlogFacts{logBin: 0, format: "ROW", binlog: with(explicit, "IACTQ_BINLOG_DSN"), own: worker}, doctorFail,
			[]string{"IACTQ_BINLOG_DSN is set but the binary log is off on the server"}, nil},
		{"explicit, refused", binlogFacts{logBin: 1, format: "ROW", binlog: with(explicit, "--binlog-dsn"), own: worker, position: refused}, doctorFail,
			[]string{"the binlog DSN cannot follow it: user iactq lacks BINLOG MONITOR"}, nil},
		{"explicit without REPLICATION SLAVE", binlogFacts{logBin: 1, format: "ROW", binlog: with(explicit, "--binlog-dsn"), own: worker}, doctorWarn,
			[]string{"no REPLICATION SLAVE in SHOW GRANTS"}, nil},
		{"automatic follows", binlogFacts{logBin: 1, format: "ROW", binlog: env, own: worker, replSlave: true}, doctorOK,
			[]string{"no IACTQ_BINLOG_DSN: the fleet will follow the binary log with the worker's own DSN"}, []string{"poll "}},
		{"automatic, log off", binlogFacts{logBin: 0, format: "MIXED", binlog: env, own: worker}, doctorOK,
			[]string{"the fleet will poll", "because the binary log is off on the server (log_bin=OFF)", "set IACTQ_BINLOG_DSN to a replication user's DSN"}, []string{"MIXED on"}},
		{"automatic, statement format", binlogFacts{logBin: 1, format: "STATEMENT", binlog: env, own: worker}, doctorOK,
			[]string{"the fleet will poll", "because binlog_format is STATEMENT on the server, not ROW"}, nil},
		{"automatic, no BINLOG MONITOR", binlogFacts{logBin: 1, format: "ROW", binlog: env, own: worker, position: refused}, doctorOK,
			[]string{"the fleet will poll", "because user iactq lacks BINLOG MONITOR, to read the binary log position;"}, []string{"Access denied"}},
		{"automatic, no REPLICATION SLAVE", binlogFacts{logBin: 1, format: "ROW", binlog: env, own: worker}, doctorOK,
			[]string{"the fleet will poll", "because user iactq lacks REPLICATION SLAVE"}, nil},
		{"automatic, cannot tell", binlogFacts{logBin: 1, format: "ROW", binlog: env, own: worker, position: away}, doctorWarn,
			[]string{"could not tell whether it can", "i/o timeout", "polls while it cannot"}, nil},
		{"automatic, admin DSN", binlogFacts{logBin: 1, format: "ROW", binlog: env, own: admin}, doctorOK,
			[]string{"the leader will try the binary log with the worker's own DSN", "without --admin"}, nil},
		{"automatic, admin DSN, log off", binlogFacts{logBin: 0, format: "ROW", binlog: env, own: admin}, doctorOK,
			[]string{"the fleet will poll", "because the binary log is off"}, nil},
	} {
		got := checkBinlog(tc.f)
		if got.Status != tc.status || got.Status == doctorFail && got.Fix == "" {
			t.Errorf("%s: %+v, want %s", tc.name, got, tc.status)
		}
		for _, d := range tc.detail {
			if !strings.Contains(got.Detail, d) {
				t.Errorf("%s: detail lacks %q: %s", tc.name, d, got.Detail)
			}
		}
		for _, d := range tc.nodetail {
			if strings.Contains(got.Detail, d) {
				t.Errorf("%s: detail says %q: %s", tc.name, d, got.Detail)
			}
		}
	}
}

// TestHasGlobalPrivilege reads REPLICATION SLAVE from SHOW GRANTS lines.
func TestHasGlobalPrivilege(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		grants []string
		want   bool
	}{
		{[]string{"GRANT USAGE ON *.* TO `iactq`@`%`", "GRANT SELECT, INSERT, UPDATE, DELETE ON `iact`.* TO `iactq`@`%`"}, false},
		{[]string{"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `iactq`@`localhost` IDENTIFIED BY PASSWORD '*ABC'"}, true},
		{[]string{"GRANT BINLOG MONITOR, REPLICATION SLAVE ON *.* TO `iactq`@`%`"}, true},
		{[]string{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"}, true},
		{[]string{"GRANT ALL PRIVILEGES ON `iact`.* TO `iactq`@`%`"}, false},
		{[]string{"GRANT BINLOG MONITOR ON *.* TO `iactq`@`%`"}, false},
	} {
		if got := hasGlobalPrivilege(tc.grants, "REPLICATION SLAVE", "REPLICATION REPLICA"); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.grants, got, tc.want)
		}
	}
}

// TestDoctorAgainstServers runs `iactq doctor` against the real test server: a good
// worker DSN, and misconfigured ones — too few grants, too many, a lax sql_mode and a
// time zone set per session in the DSN, an unmigrated schema.
func TestDoctorAgainstServers(t *testing.T) {
	d, c := setup(t)
	line := func(out, status, check, detail string) {
		t.Helper()
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(status) + `\s+` + regexp.QuoteMeta(check) + `\s+.*` + detail)
		if !re.MatchString(out) {
			t.Errorf("no %q %s line matching %q in:\n%s", status, check, detail, out)
		}
	}
	// Good: the worker's DSN on a migrated schema.
	r := c.run("doctor")
	if r.code != 0 {
		t.Fatalf("good worker DSN: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, chk := range []string{"server", "time zone", "sql_mode", "grants", "binary log", "schema", "clock"} {
		line(r.stdout, doctorOK, chk, "")
	}
	line(r.stdout, doctorOK, "grants", "SELECT, INSERT, UPDATE, DELETE on "+d.Name+", nothing more")
	// The test server has the binary log on in ROW format; the worker user may not
	// read it: no IACTQ_BINLOG_DSN, the fleet polls, and that is no failure.
	line(r.stdout, doctorOK, "binary log", `no IACTQ_BINLOG_DSN: the fleet will poll \(.*\), because user \S+ lacks BINLOG MONITOR`)
	t.Logf("good server:\n%s", r.stdout)

	// IACTQ_BINLOG_DSN=off (any case, or --binlog-dsn=off) is not a DSN: the fleet polls.
	for _, off := range []cli{
		{t: t, env: map[string]string{"IACTQ_DSN": d.WorkerDSN, "IACTQ_BINLOG_DSN": "off"}},
		{t: t, env: map[string]string{"IACTQ_DSN": d.WorkerDSN, "IACTQ_BINLOG_DSN": "Off"}},
	} {
		r = off.run("doctor")
		if r.code != 0 {
			t.Fatalf("IACTQ_BINLOG_DSN=%s: exit %d\n%s%s", off.env["IACTQ_BINLOG_DSN"], r.code, r.stdout, r.stderr)
		}
		line(r.stdout, doctorOK, "binary log", "IACTQ_BINLOG_DSN=off: the fleet will poll .* and does not try the binary log")
	}
	if r = c.run("doctor", "--binlog-dsn=off"); r.code != 0 {
		t.Fatalf("--binlog-dsn=off: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	line(r.stdout, doctorOK, "binary log", "--binlog-dsn=off: the fleet will poll")
	if strings.Contains(r.stdout+r.stderr, "invalid") {
		t.Errorf("off shown as an invalid DSN:\n%s%s", r.stdout, r.stderr)
	}

	// A binlog DSN: the replication user of the test server follows; the worker's
	// user given as one cannot, and that fails.
	if b := os.Getenv("IACTQ_TEST_BINLOG_DSN"); b != "" {
		if r = c.run("doctor", "--binlog-dsn", b); r.code != 0 {
			t.Fatalf("--binlog-dsn of the replication user: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		line(r.stdout, doctorOK, "binary log", "the binlog DSN can follow it: the fleet will follow the binary log")
		t.Logf("binlog DSN:\n%s", r.stdout)
	}
	if r = c.run("doctor", "--binlog-dsn", d.WorkerDSN); r.code != 1 {
		t.Fatalf("--binlog-dsn of the worker: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	line(r.stdout, doctorFail, "binary log", "the binlog DSN cannot follow it: user iactq_worker lacks BINLOG MONITOR")

	// Too many: the admin's DSN (ALL ON *.* WITH GRANT OPTION) used as a worker's.
	admin := cli{t: t, env: map[string]string{"IACTQ_DSN": d.AdminDSN}}
	r = admin.run("doctor")
	if r.code != 0 {
		t.Fatalf("admin DSN as a worker's: exit %d (warnings only expected)\n%s", r.code, r.stdout)
	}
	line(r.stdout, doctorWarn, "grants", "has more than it needs: ALL PRIVILEGES ON \\*\\.\\*, GRANT OPTION")
	// Its user may follow the binary log: a fleet with it would, by itself.
	line(r.stdout, doctorOK, "binary log", "no IACTQ_BINLOG_DSN: the fleet will follow the binary log with the worker's own DSN")
	if !strings.Contains(r.stdout, "fix: workers need only rows: REVOKE ALL PRIVILEGES, GRANT OPTION FROM") {
		t.Errorf("no fix for too many grants:\n%s", r.stdout)
	}
	t.Logf("too many grants:\n%s", r.stdout)
	// With --admin the DSN is not the workers': doctor does not judge it for them.
	if r = admin.run("doctor", "--admin"); r.code != 0 {
		t.Fatalf("admin DSN with --admin: exit %d\n%s", r.code, r.stdout)
	}
	line(r.stdout, doctorOK, "binary log", "the leader will try the binary log with the worker's own DSN \\(run iactq doctor with that DSN")

	adm, err := queue.OpenDB(d.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adm.Close() })
	asAdmin := func(stmt string) {
		t.Helper()
		if _, err := adm.ExecContext(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}

	// Too few: a user with SELECT only.
	user := "doctor_" + d.Name[len(d.Name)-8:]
	asAdmin(fmt.Sprintf("CREATE USER '%s'@'localhost' IDENTIFIED BY 'pw-doctor-1'", user))
	asAdmin(fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY 'pw-doctor-1'", user))
	t.Cleanup(func() { asAdmin(fmt.Sprintf("DROP USER IF EXISTS '%s'@'localhost', '%s'@'127.0.0.1'", user, user)) })
	asAdmin(fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'localhost'", d.Name, user))
	asAdmin(fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'127.0.0.1'", d.Name, user))
	cfg, err := mysql.ParseDSN(d.WorkerDSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = user, "pw-doctor-1"
	few := cli{t: t, env: map[string]string{"IACTQ_DSN": cfg.FormatDSN()}}
	r = few.run("doctor")
	if r.code != 1 {
		t.Fatalf("SELECT-only user: exit %d, want 1\n%s", r.code, r.stdout)
	}
	line(r.stdout, doctorFail, "grants", "lacks INSERT, UPDATE, DELETE on "+d.Name)
	if !strings.Contains(r.stdout, "fix: GRANT SELECT, INSERT, UPDATE, DELETE ON "+d.Name+".* TO '"+user+"'@'localhost';") {
		t.Errorf("no GRANT fix:\n%s", r.stdout)
	}
	t.Logf("too few grants:\n%s", r.stdout)

	// A worker user that may read the binary log position (BINLOG MONITOR) but not
	// register as a replica: the fleet polls, doctor names REPLICATION SLAVE.
	mon := "doctor_m_" + d.Name[len(d.Name)-8:]
	for _, host := range []string{"localhost", "127.0.0.1"} {
		asAdmin(fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY 'pw-doctor-2'", mon, host))
		asAdmin(fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s.* TO '%s'@'%s'", d.Name, mon, host))
		asAdmin(fmt.Sprintf("GRANT BINLOG MONITOR ON *.* TO '%s'@'%s'", mon, host))
	}
	t.Cleanup(func() { asAdmin(fmt.Sprintf("DROP USER IF EXISTS '%s'@'localhost', '%s'@'127.0.0.1'", mon, mon)) })
	mcfg := *cfg
	mcfg.User, mcfg.Passwd = mon, "pw-doctor-2"
	monitor := cli{t: t, env: map[string]string{"IACTQ_DSN": mcfg.FormatDSN()}}
	r = monitor.run("doctor")
	if r.code != 0 {
		t.Fatalf("BINLOG MONITOR user: exit %d (warnings only expected)\n%s", r.code, r.stdout)
	}
	line(r.stdout, doctorOK, "binary log", "the fleet will poll .*, because user "+mon+" lacks REPLICATION SLAVE")
	t.Logf("BINLOG MONITOR only:\n%s", r.stdout)

	// A lax sql_mode and a time zone, set per session by the DSN.
	lax := cli{t: t, env: map[string]string{"IACTQ_DSN": d.WorkerDSN + "&sql_mode=%27NO_ENGINE_SUBSTITUTION%27&time_zone=%27%2B05:00%27"}}
	r = lax.run("doctor")
	if r.code != 1 {
		t.Fatalf("lax session: exit %d, want 1\n%s", r.code, r.stdout)
	}
	line(r.stdout, doctorFail, "sql_mode", "NO_ENGINE_SUBSTITUTION is not strict")
	line(r.stdout, doctorWarn, "time zone", "the DSN sets time_zone='\\+05:00', which iactq replaces")
	t.Logf("lax session:\n%s", r.stdout)

	// An unmigrated schema.
	empty := d.Name + "_e"
	asAdmin("CREATE DATABASE " + empty)
	t.Cleanup(func() { asAdmin("DROP DATABASE IF EXISTS " + empty) })
	acfg, err := mysql.ParseDSN(d.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	acfg.DBName = empty
	unmigrated := cli{t: t, env: map[string]string{"IACTQ_DSN": acfg.FormatDSN()}}
	r = unmigrated.run("doctor", "--admin")
	if r.code != 1 {
		t.Fatalf("unmigrated schema: exit %d, want 1\n%s", r.code, r.stdout)
	}
	line(r.stdout, doctorFail, "schema", `migration\(s\) not applied`)
	if !strings.Contains(r.stdout, "fix: iactq migrate") || !strings.Contains(r.stderr, "check(s) failed") {
		t.Errorf("no migrate fix:\n%s%s", r.stdout, r.stderr)
	}
	t.Logf("unmigrated schema:\n%s", r.stdout)

	// Unreachable.
	cfg.Net, cfg.Addr = "tcp", "127.0.0.1:1"
	down := cli{t: t, env: map[string]string{"IACTQ_DSN": cfg.FormatDSN()}}
	if r = down.run("doctor"); r.code != 1 || !strings.Contains(r.stdout, "FAIL  connect") {
		t.Errorf("unreachable server: exit %d\n%s", r.code, r.stdout)
	}
}
