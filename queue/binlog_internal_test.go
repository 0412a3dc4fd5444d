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

// TestBinlogInsertedHeads: an insert's row images give the oldest due job per queue
// and kind, by the columns' positions found by name; rows not 'available' are left
// out; any other event, or a value of another type, says nothing (the watcher then
// reads the heads).
func TestBinlogInsertedHeads(t *testing.T) {
	t.Parallel()
	enum := "enum('available','scheduled','running','retryable','completed','discarded','cancelled')"
	l := findLayout(7, []jobsColumn{{"id", "bigint"}, {"kind", "varchar(100)"}, {"queue", "varchar(100)"},
		{"state", enum}, {"scheduled_at", "timestamp(6)"}})
	if l.queue != 2 || l.kind != 1 || l.scheduledAt != 4 || l.state != 3 {
		t.Fatalf("layout %+v, want kind at 1, queue at 2, state at 3, scheduled_at at 4", l)
	}
	t0 := time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)
	row := func(kind, queue string, state any, at any) []any { return []any{int64(1), kind, queue, state, at} }
	insert := replication.WRITE_ROWS_EVENTv2
	heads, ok := insertedHeads(insert, &replication.RowsEvent{Rows: [][]any{
		row("report", "default", int64(1), t0.Add(time.Second)),
		row("report", "default", int64(1), t0),
		row("probe", "ops", int64(1), t0),
		row("later", "default", int64(2), t0), // 'scheduled'
	}}, l)
	want := map[headKey]time.Time{{"default", "report"}: t0, {"ops", "probe"}: t0}
	if !ok || len(heads) != len(want) || !heads[headKey{"default", "report"}].Equal(t0) || !heads[headKey{"ops", "probe"}].Equal(t0) {
		t.Fatalf("insertedHeads = %v, %v; want %v, true", heads, ok, want)
	}
	for _, c := range []struct {
		name string
		t    replication.EventType
		rows [][]any
		l    jobsLayout
	}{
		{"an update", replication.UPDATE_ROWS_EVENTv2, [][]any{row("a", "q", int64(1), t0), row("a", "q", int64(1), t0)}, l},
		{"a zero date, logged as a string", insert, [][]any{row("a", "q", int64(1), "0000-00-00 00:00:00.000000")}, l},
		{"a short image", insert, [][]any{{int64(1), "a"}}, l},
		{"no scheduled_at column", insert, [][]any{row("a", "q", int64(1), t0)}, findLayout(8, []jobsColumn{{"id", "bigint"}, {"kind", ""}, {"queue", ""}, {"state", enum}})},
	} {
		if heads, ok := insertedHeads(c.t, &replication.RowsEvent{Rows: c.rows}, c.l); ok {
			t.Errorf("%s: insertedHeads = %v, true; want false", c.name, heads)
		}
	}
}

// TestInsertedWhereNoneIsNewWorkForCertain: the watcher rings from an insert's row
// images only for due jobs of queues not paused, of kinds its last look found no job
// of; a kind it saw a job of is left to a read of the heads.
func TestInsertedWhereNoneIsNewWorkForCertain(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)
	seen := map[headKey]time.Time{{"default", "backlog"}: now.Add(-time.Minute)}
	inserted := map[headKey]time.Time{
		{"default", "backlog"}: now.Add(-time.Millisecond),
		{"default", "new"}:     now.Add(-time.Millisecond),
		{"paused", "new"}:      now.Add(-time.Millisecond),
		{"default", "future"}:  now.Add(time.Second),
	}
	fresh := insertedWhereNone(seen, inserted, map[string]bool{"paused": true}, now)
	if len(fresh) != 1 || !fresh[headKey{"default", "new"}].Equal(now.Add(-time.Millisecond)) {
		t.Fatalf("insertedWhereNone = %v, want only default/new", fresh)
	}
	if got := insertedWhereNone(nil, map[headKey]time.Time{{"q", "k"}: now}, nil, now); len(got) != 1 {
		t.Fatalf("with no look yet: %v, want q/k", got)
	}
}

// TestBinlogEventsGatherUntilTaken: events the watcher has not taken yet are merged
// (the oldest per queue and kind), one that says nothing readable marks them unknown,
// and a take starts afresh.
func TestBinlogEventsGatherUntilTaken(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC)
	e := newBinlogEvents()
	e.add(map[headKey]time.Time{{"q", "a"}: t0.Add(time.Second)})
	e.add(map[headKey]time.Time{{"q", "a"}: t0, {"q", "b"}: t0})
	select {
	case <-e.signal:
	default:
		t.Fatal("no signal after two events")
	}
	inserted, unknown := e.take()
	if unknown || len(inserted) != 2 || !inserted[headKey{"q", "a"}].Equal(t0) {
		t.Fatalf("take = %v, %v; want q/a and q/b at %s, known", inserted, unknown, t0)
	}
	e.add(nil)
	if inserted, unknown := e.take(); !unknown || inserted != nil {
		t.Fatalf("after an unreadable event: %v, %v; want nothing, unknown", inserted, unknown)
	}
	if inserted, unknown := e.take(); unknown || inserted != nil {
		t.Fatalf("a second take: %v, %v; want nothing", inserted, unknown)
	}
}
