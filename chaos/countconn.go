package chaos

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"

	"github.com/iact/iactq/queue"
)

// errorCounts counts the MySQL errors of interest that a pool's connections returned
// to the engine (which retries them inside its transactions).
type errorCounts struct {
	deadlocks    atomic.Int64 // 1213
	lockTimeouts atomic.Int64 // 1205
	duplicates   atomic.Int64 // 1062: a live job holds the unique key (expected)
	other        atomic.Int64 // any other server error
}

func (c *errorCounts) see(err error) {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return
	}
	switch me.Number {
	case 1213:
		c.deadlocks.Add(1)
	case 1205:
		c.lockTimeouts.Add(1)
	case 1062:
		c.duplicates.Add(1)
	default:
		c.other.Add(1)
	}
}

// openCounting is queue.OpenDB whose connections report their errors to counts.
func openCounting(dsn string, counts *errorCounts) (*sql.DB, error) {
	cfg, err := queue.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	inner, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(countingConnector{inner: inner, counts: counts})
	db.SetMaxOpenConns(50)
	db.SetMaxIdleConns(50)
	return db, nil
}

type countingConnector struct {
	inner  driver.Connector
	counts *errorCounts
}

func (c countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, counts: c.counts}, nil
}

func (c countingConnector) Driver() driver.Driver { return c.inner.Driver() }

// countingConn passes everything to the driver's connection (which implements every
// optional interface used here) and counts the errors.
type countingConn struct {
	driver.Conn
	counts *errorCounts
}

func (c *countingConn) note(err error) error {
	if err != nil {
		c.counts.see(err)
	}
	return err
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, c.note(err)
	}
	return countingTx{Tx: tx, c: c}, nil
}

func (c *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, c.note(err)
	}
	return &countingStmt{Stmt: st, c: c}, nil
}

func (c *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	res, err := c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
	return res, c.note(err)
}

func (c *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
	return rows, c.note(err)
}

func (c *countingConn) Ping(ctx context.Context) error {
	return c.note(c.Conn.(driver.Pinger).Ping(ctx))
}

func (c *countingConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *countingConn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

func (c *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.Conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

type countingTx struct {
	driver.Tx
	c *countingConn
}

func (t countingTx) Commit() error { return t.c.note(t.Tx.Commit()) }

type countingStmt struct {
	driver.Stmt
	c *countingConn
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	res, err := s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	return res, s.c.note(err)
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	return rows, s.c.note(err)
}

func (s *countingStmt) CheckNamedValue(nv *driver.NamedValue) error {
	return s.c.CheckNamedValue(nv)
}
