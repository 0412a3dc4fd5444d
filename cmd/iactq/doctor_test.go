package main

import (
	"context"
	"fmt"
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
	t.Logf("good server:\n%s", r.stdout)

	// Too many: the admin's DSN (ALL ON *.* WITH GRANT OPTION) used as a worker's.
	admin := cli{t: t, env: map[string]string{"IACTQ_DSN": d.AdminDSN}}
	r = admin.run("doctor")
	if r.code != 0 {
		t.Fatalf("admin DSN as a worker's: exit %d (warnings only expected)\n%s", r.code, r.stdout)
	}
	line(r.stdout, doctorWarn, "grants", "has more than it needs: ALL PRIVILEGES ON \\*\\.\\*, GRANT OPTION")
	if !strings.Contains(r.stdout, "fix: workers need only rows: REVOKE ALL PRIVILEGES, GRANT OPTION FROM") {
		t.Errorf("no fix for too many grants:\n%s", r.stdout)
	}
	t.Logf("too many grants:\n%s", r.stdout)

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
