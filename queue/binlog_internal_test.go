package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
)

// TestBinlogFindsStateByName: the follower finds state among the table's columns
// wherever it is, and its ENUM index of 'available', and judges row images by them.
func TestBinlogFindsStateByName(t *testing.T) {
	t.Parallel()
	enum := "enum('available','scheduled','running','retryable','completed','discarded','cancelled')"
	moved := []jobsColumn{{"added_first", "int(11)"}, {"id", "bigint(20)"}, {"kind", "varchar(100)"}, {"queue", "varchar(100)"},
		{"args", "longtext"}, {"state", enum}}
	l := findLayout(7, moved)
	if !l.known || l.state != 5 || l.available != 1 || l.tableID != 7 {
		t.Fatalf("layout %+v, want state at 5, available = 1", l)
	}
	reordered := findLayout(8, []jobsColumn{{"id", "bigint"}, {"State", "enum('scheduled','available')"}})
	if reordered.state != 1 || reordered.available != 2 {
		t.Fatalf("layout %+v, want state at 1, available = 2", reordered)
	}
	if none := findLayout(9, []jobsColumn{{"id", "bigint"}}); none.known {
		t.Fatalf("layout %+v without a state column", none)
	}

	update := func(after ...any) *replication.RowsEvent {
		before := make([]any, len(after))
		return &replication.RowsEvent{Rows: [][]any{before, after}}
	}
	upd := replication.UPDATE_ROWS_EVENTv1
	for _, c := range []struct {
		name string
		rows *replication.RowsEvent
		l    jobsLayout
		want bool
	}{
		{"available at the moved position", update(nil, int64(1), "test", "default", "{}", int64(1)), l, true},
		{"running at the moved position", update(nil, int64(1), "test", "default", "{}", int64(3)), l, false},
		// What the old fixed position 4 held after this change: the args.
		{"old position ignored", update(nil, int64(1), "test", "default", int64(1), int64(3)), l, false},
		{"short image", update(int64(1)), l, true},
		{"state unknown", update(int64(1), int64(3)), jobsLayout{}, true},
		{"available as a string", update(nil, int64(1), "test", "default", "{}", "available"), l, true},
	} {
		if got := makesAvailable(upd, c.rows, c.l); got != c.want {
			t.Errorf("%s: makesAvailable = %v, want %v", c.name, got, c.want)
		}
	}
	if !makesAvailable(replication.WRITE_ROWS_EVENTv1, &replication.RowsEvent{}, jobsLayout{}) {
		t.Error("an insert does not wake")
	}
}

// TestBinlogRetryBacksOffToAMinute: attempts to follow again double from half a second
// and settle at a minute (a server with log_bin off once saw one every 10 s forever).
func TestBinlogRetryBacksOffToAMinute(t *testing.T) {
	t.Parallel()
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := binlogRetryDelay(i + 1); got != w {
			t.Errorf("delay before attempt %d: %s, want %s", i+1, got, w)
		}
	}
	for _, n := range []int{20, 64, 1000, 1 << 30} {
		if got := binlogRetryDelay(n); got != time.Minute {
			t.Errorf("delay before attempt %d: %s, want 1m0s", n, got)
		}
	}
}

// TestBinlogSettingsSayWhy: the server settings that rule the binary log out give
// their reason; log_bin on in ROW format gives none.
func TestBinlogSettingsSayWhy(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		logBin int
		format string
		want   string
	}{
		{0, "ROW", "binary log off on the server"},
		{0, "MIXED", "binary log off on the server"},
		{1, "MIXED", "binlog_format is MIXED on the server, not ROW"},
		{1, "STATEMENT", "not ROW"},
		{1, "ROW", ""},
		{1, "row", ""},
	} {
		got := binlogSettings(c.logBin, c.format)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("log_bin=%d binlog_format=%s: %q, want %q", c.logBin, c.format, got, c.want)
		}
	}
}

// TestBinlogSource: an explicit binlog DSN wins; "off" (any case) means none; without
// either the worker's own DSN is tried, automatically.
func TestBinlogSource(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		binlog, own string
		dsn         string
		auto        bool
	}{
		{"", "", "", false},
		{"", "w@/q", "w@/q", true},
		{"b@/", "w@/q", "b@/", false},
		{"off", "w@/q", "", false},
		{" OFF ", "w@/q", "", false},
		{"Off", "", "", false},
	} {
		cl := &Client{cfg: Config{BinlogDSN: c.binlog, DSN: c.own}}
		if dsn, auto := cl.binlogSource(); dsn != c.dsn || auto != c.auto {
			t.Errorf("BinlogDSN %q, DSN %q: (%q, %v), want (%q, %v)", c.binlog, c.own, dsn, auto, c.dsn, c.auto)
		}
	}
}

// TestBinlogNoteOncePerClient: a reason is worth a line the first time a client meets
// it, not again, and again after the log was followed or for another reason; another
// client has its own record.
func TestBinlogNoteOncePerClient(t *testing.T) {
	t.Parallel()
	a, b := &Client{}, &Client{}
	for i, step := range []struct {
		c      *Client
		reason string
		want   bool
	}{
		{a, "user x lacks BINLOG MONITOR", true},
		{a, "user x lacks BINLOG MONITOR", false},
		{b, "user x lacks BINLOG MONITOR", true},
		{a, "binary log off on the server", true},
		{a, "binary log off on the server", false},
		{a, "", false}, // following
		{a, "binary log off on the server", true},
	} {
		if got := step.c.noteBinlog(step.reason); got != step.want {
			t.Errorf("step %d, %q: %v, want %v", i, step.reason, got, step.want)
		}
	}
}
