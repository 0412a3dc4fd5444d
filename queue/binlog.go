package queue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	gomysql "github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"
)

// binlogFollower wakes idle workers the moment a job becomes available, by following
// the server's binary log (MySQL has no LISTEN/NOTIFY): an insert into iactq_jobs, or
// an update that leaves a row 'available', is a wake-up. It sends no query while idle.
//
// It needs the binary log on (log_bin, binlog_format=ROW) and a user with replication
// privileges (REPLICATION SLAVE, and BINLOG MONITOR on MariaDB or REPLICATION CLIENT on
// MySQL to read the current position), which is why it is optional, with its own DSN
// (Config.BinlogDSN). When it cannot follow, workers poll at Config.PollInterval.
type binlogFollower struct {
	dsn    string
	schema string // the queue's database
	log    zerolog.Logger
	wake   func()
	// healthy is called with true once following, false when it stopped.
	healthy func(bool)
	// columns reads the columns of iactq_jobs (name and type, in order) from the
	// queue's database: where the row images hold state, when the binary log does
	// not carry column names (binlog_row_metadata=FULL does).
	columns func(ctx context.Context) ([]jobsColumn, error)

	layout jobsLayout // of the table id last seen
}

// jobsColumn is one column of iactq_jobs.
type jobsColumn struct{ name, typ string }

// jobsLayout is where a row image of iactq_jobs holds state, and how 'available' is
// logged there (ENUMs are logged as 1-based indexes). It holds for one table id: the
// server gives the table a new id when its definition changes (ALTER TABLE), and the
// layout is then found again.
type jobsLayout struct {
	tableID   uint64
	known     bool  // false: state not found; every update wakes
	state     int   // index of state in a row image
	available int64 // ENUM index of 'available'
}

// layoutFor returns the layout of the table the event's rows belong to, finding it
// again when the table id changed: from the event's column names when the binary log
// carries them, else from the table's columns read now.
func (f *binlogFollower) layoutFor(ctx context.Context, t *replication.TableMapEvent) jobsLayout {
	if f.layout.tableID == t.TableID && f.layout.tableID != 0 {
		return f.layout
	}
	var cols []jobsColumn
	if len(t.ColumnName) > 0 {
		enums := t.EnumStrValueString()
		ei := 0
		for i, name := range t.ColumnNameString() {
			c := jobsColumn{name: name}
			if i < len(t.ColumnType) && t.ColumnType[i] == mysql.MYSQL_TYPE_STRING && t.IsEnumColumn(i) && ei < len(enums) {
				c.typ = enumType(enums[ei])
				ei++
			}
			cols = append(cols, c)
		}
	} else if f.columns != nil {
		var err error
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cols, err = f.columns(rctx)
		cancel()
		if err != nil {
			f.log.Warn().Err(err).Msg("cannot read the columns of iactq_jobs; every update of a job wakes the worker")
		}
	}
	f.layout = findLayout(t.TableID, cols)
	if f.layout.known {
		f.log.Debug().Uint64("table_id", t.TableID).Int("state_column", f.layout.state).Msg("binlog layout of iactq_jobs")
	}
	return f.layout
}

// findLayout finds state and the ENUM index of 'available' among cols.
func findLayout(tableID uint64, cols []jobsColumn) jobsLayout {
	l := jobsLayout{tableID: tableID}
	for i, c := range cols {
		if !strings.EqualFold(c.name, "state") {
			continue
		}
		for j, v := range enumValues(c.typ) {
			if v == string(StateAvailable) {
				return jobsLayout{tableID: tableID, known: true, state: i, available: int64(j + 1)}
			}
		}
	}
	return l
}

// enumType writes ENUM values as information_schema's column_type does.
func enumType(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return "enum(" + strings.Join(quoted, ",") + ")"
}

// enumValues parses "enum('a','b')" into its values.
func enumValues(typ string) []string {
	inner, ok := strings.CutPrefix(strings.ToLower(typ), "enum(")
	if !ok {
		return nil
	}
	inner = strings.TrimSuffix(inner, ")")
	var out []string
	for _, v := range strings.Split(inner, ",") {
		v = strings.TrimSpace(v)
		v = strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'")
		out = append(out, strings.ReplaceAll(v, "''", "'"))
	}
	return out
}

// run follows the binary log until ctx ends, restarting from the current position
// after any error (a purged position, a restarted server, a dropped connection).
func (f *binlogFollower) run(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		err := f.follow(ctx)
		f.healthy(false)
		if ctx.Err() != nil {
			return
		}
		failures++
		delay := min(time.Duration(failures)*500*time.Millisecond, 10*time.Second)
		if failures == 1 || failures%20 == 0 {
			f.log.Warn().Err(err).Dur("retry_in", delay).Msg("binlog wake-ups stopped; polling meanwhile")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

func (f *binlogFollower) follow(ctx context.Context) error {
	cfg, err := gomysql.ParseDSN(f.dsn)
	if err != nil {
		return fmt.Errorf("binlog DSN: invalid: %s", RedactDSN(f.dsn))
	}
	pos, err := currentBinlogPosition(ctx, f.dsn)
	if err != nil {
		return err
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	// Every follower needs its own server id: the server drops the older of two
	// streams with the same one.
	serverID := binary.BigEndian.Uint32(id[:])%(1<<30) + 1<<20
	scfg := replication.BinlogSyncerConfig{
		ServerID:        serverID,
		Flavor:          pos.flavor,
		User:            cfg.User,
		Password:        cfg.Passwd,
		HeartbeatPeriod: time.Second,
		ReadTimeout:     5 * time.Second,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Reconnecting is this loop's job (from the current position, not an old one).
		MaxReconnectAttempts: 1,
		DisableRetrySync:     true,
	}
	switch cfg.Net {
	case "unix":
		socket := cfg.Addr
		scfg.Host, scfg.Port = "localhost", 3306
		scfg.Dialer = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}
	default:
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return fmt.Errorf("binlog DSN address %q: %w", cfg.Addr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return fmt.Errorf("binlog DSN port %q: %w", port, err)
		}
		scfg.Host, scfg.Port = host, uint16(p)
	}
	syncer := replication.NewBinlogSyncer(scfg)
	defer syncer.Close()
	streamer, err := syncer.StartSync(pos.position)
	if err != nil {
		return fmt.Errorf("start following the binary log: %w", err)
	}
	f.log.Info().Str("position", pos.position.String()).Uint32("server_id", serverID).Msg("following the binary log for wake-ups")
	f.healthy(true)
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			return fmt.Errorf("read the binary log: %w", err)
		}
		rows, ok := ev.Event.(*replication.RowsEvent)
		if !ok || string(rows.Table.Table) != "iactq_jobs" || string(rows.Table.Schema) != f.schema {
			continue
		}
		if makesAvailable(ev.Header.EventType, rows, f.layoutFor(ctx, rows.Table)) {
			f.wake()
		}
	}
}

// makesAvailable tells whether a row event inserts a job or leaves one 'available'.
func makesAvailable(t replication.EventType, rows *replication.RowsEvent, l jobsLayout) bool {
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2:
		return true
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2:
		// Rows come in (before, after) pairs.
		for i := 1; i < len(rows.Rows); i += 2 {
			after := rows.Rows[i]
			if !l.known || len(after) <= l.state {
				return true // state not found, or not a full row image: cannot tell, so wake
			}
			switch v := after[l.state].(type) {
			case int64:
				if v == l.available {
					return true
				}
			case string:
				if v == string(StateAvailable) {
					return true
				}
			default:
				return true
			}
		}
	}
	return false
}

type binlogPosition struct {
	position mysql.Position
	flavor   string
}

// currentBinlogPosition reads where the binary log ends now (and the server's flavor).
// These are server-administration statements sqlc has no use for.
func currentBinlogPosition(ctx context.Context, dsn string) (binlogPosition, error) {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return binlogPosition{}, fmt.Errorf("binlog DSN: invalid: %s", RedactDSN(dsn))
	}
	cfg.DBName = "" // the replication user needs no access to any database
	db, err := OpenDB(cfg.FormatDSN())
	if err != nil {
		return binlogPosition{}, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var version, format string
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), @@GLOBAL.binlog_format").Scan(&version, &format); err != nil {
		return binlogPosition{}, fmt.Errorf("read server version: %w", err)
	}
	flavor := mysql.MySQLFlavor
	if strings.Contains(strings.ToLower(version), "mariadb") {
		flavor = mysql.MariaDBFlavor
	}
	if format != "ROW" {
		return binlogPosition{}, fmt.Errorf("binlog_format is %s; wake-ups need ROW", format)
	}
	var p binlogPosition
	p.flavor = flavor
	for _, stmt := range []string{"SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"} {
		rows, err := db.QueryContext(ctx, stmt)
		if err != nil {
			continue // older or newer servers know only one of the two
		}
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		found := rows.Next() && rows.Scan(ptrs...) == nil
		if found && len(vals) >= 2 {
			pos, _ := strconv.ParseUint(string(vals[1]), 10, 32)
			p.position = mysql.Position{Name: string(vals[0]), Pos: uint32(pos)}
		}
		rows.Close()
		if found {
			return p, nil
		}
		return p, errors.New("the binary log is off (log_bin); wake-ups need it")
	}
	return p, errors.New("cannot read the binary log position: the binlog user needs REPLICATION CLIENT (MySQL) or BINLOG MONITOR (MariaDB)")
}
