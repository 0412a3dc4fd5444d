package queue

import (
	"testing"

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
