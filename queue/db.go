package queue

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/iact/iactq/internal/dberr"
	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// sessionIdleTimeout is the server's wait_timeout for iactq's sessions.
const sessionIdleTimeout = 20 * time.Second

// ErrNotFound is returned when a job, queue or schedule does not exist.
var ErrNotFound = errors.New("not found")

// OpenDB opens a connection pool for dsn (a go-sql-driver DSN). Whatever the DSN says,
// sessions run in UTC with parsed times, so TIMESTAMP columns read and write instants.
func OpenDB(dsn string) (*sql.DB, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	connector, err := newReadCommittedConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(50)
	db.SetMaxIdleConns(50)
	db.SetConnMaxLifetime(30 * time.Minute)
	// Idle sessions are closed before the server's wait_timeout ends them (15 s). A
	// busy worker keeps its sessions; an idle one, whose statements come tens of
	// seconds apart, opens one for each, at the cost of one statement (the SET of its
	// parameters and isolation level, readCommittedConnector).
	db.SetConnMaxIdleTime(sessionIdleTimeout * 3 / 4)
	return db, nil
}

// isolationVariables are the names a server may know the session's isolation level
// by, in the order they are tried: transaction_isolation (MySQL 8, MariaDB 11.1 and
// later), tx_isolation (MariaDB up to 11.0).
var isolationVariables = []string{"transaction_isolation", "tx_isolation"}

// errUnknownSystemVariable is the server's error for a SET of a variable it lacks.
const errUnknownSystemVariable = 1193

// readCommittedConnector puts every session in READ COMMITTED when it opens. The claim
// wants it (no gap locks: inserts never wait for a claim); asking for it per
// transaction costs a round trip before every BEGIN. The level is set in the driver's
// one SET of the DSN's parameters (time_zone, wait_timeout), under the name the server
// knows, so that a new session costs the server one statement, not two: an idle worker
// opens one for nearly every statement it sends, its pool's sessions being closed
// after 15 s idle (docs/wakeups.md, "What idle costs"). The name is found by trying
// each in turn once per pool; a server that knows neither gets the standard statement
// of its own, as before.
type readCommittedConnector struct {
	named []driver.Connector // the DSN's parameters and the level, one per name
	plain driver.Connector   // the DSN's parameters alone
	use   *atomic.Int32      // index in named of the name the server knows; len(named): none
}

func newReadCommittedConnector(cfg *mysql.Config) (readCommittedConnector, error) {
	c := readCommittedConnector{use: new(atomic.Int32)}
	var err error
	if c.plain, err = mysql.NewConnector(cfg); err != nil {
		return c, err
	}
	for _, name := range isolationVariables {
		named := cfg.Clone()
		if named.Params == nil {
			named.Params = map[string]string{}
		}
		for _, other := range isolationVariables {
			delete(named.Params, other) // iactq relies on READ COMMITTED: the DSN does not choose
		}
		named.Params[name] = "'READ-COMMITTED'"
		connector, err := mysql.NewConnector(named)
		if err != nil {
			return c, err
		}
		c.named = append(c.named, connector)
	}
	return c, nil
}

func (c readCommittedConnector) Driver() driver.Driver { return c.plain.Driver() }

func (c readCommittedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	for {
		i := c.use.Load()
		if int(i) >= len(c.named) {
			return c.connectPlain(ctx)
		}
		conn, err := c.named[i].Connect(ctx)
		var mysqlErr *mysql.MySQLError
		if err != nil && errors.As(err, &mysqlErr) && mysqlErr.Number == errUnknownSystemVariable {
			c.use.CompareAndSwap(i, i+1) // not this name: the next
			continue
		}
		return conn, err
	}
}

// connectPlain opens a session with the DSN's parameters and sets the level in a
// statement of its own.
func (c readCommittedConnector) connectPlain(ctx context.Context) (driver.Conn, error) {
	conn, err := c.plain.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, errors.New("open database: the driver cannot execute statements")
	}
	if _, err := ex.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("set the session's isolation level: %w", err)
	}
	return conn, nil
}

// ParseDSN parses a go-sql-driver DSN and sets what iactq relies on: UTC sessions,
// parsed times, and timeouts. Its error never includes the password.
func ParseDSN(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid DSN %q: %w", RedactDSN(dsn), err)
	}
	cfg.ParseTime = true
	cfg.InterpolateParams = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	// A session idle this long is closed by the server, rolling back its open
	// transaction: a worker process paused in the middle of a claim (SIGSTOP, a frozen
	// VM) cannot hold its locks, and so its jobs, for longer. It must stay under the
	// rescue delay (30 s by default); the pool drops idle connections before this.
	if _, set := cfg.Params["wait_timeout"]; !set {
		cfg.Params["wait_timeout"] = strconv.Itoa(int(sessionIdleTimeout / time.Second))
	}
	// The driver would print its own lines to stderr; iactq logs the errors it returns.
	cfg.Logger = mysql.Logger(log.New(io.Discard, "", 0))
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 60 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	return cfg, nil
}

// RedactDSN returns dsn with its password replaced by "***", for messages.
func RedactDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	if at < 0 {
		return dsn
	}
	userinfo := dsn[:at]
	if colon := strings.Index(userinfo, ":"); colon >= 0 {
		return userinfo[:colon] + ":***" + dsn[at:]
	}
	return dsn
}

// store is the thin layer over the generated queries: the only code that touches them.
type store struct {
	db *sql.DB
	q  *dbsqlc.Queries
}

func newStore(db *sql.DB) *store {
	return &store{db: db, q: dbsqlc.New(db)}
}

// dbTx is the generated queries bound to one transaction, plus the transaction itself
// for the one statement sqlc cannot express.
type dbTx struct {
	*dbsqlc.Queries
	conn dbsqlc.DBTX
}

// inTx runs fn in a transaction and commits it, retrying transient errors
// (dberr.TxPolicy) so that they are never surfaced as job failures: a lost
// connection too, since every engine transaction is safe to run again (claims whose
// commit answer was lost are released, outcomes are guarded by the claim).
func (s *store) inTx(ctx context.Context, opts *sql.TxOptions, fn func(tx dbTx) error) error {
	return dberr.Retry(ctx, dberr.TxPolicy, func(ctx context.Context) error { return s.inTxOnce(ctx, opts, fn) })
}

func (s *store) inTxOnce(ctx context.Context, opts *sql.TxOptions, fn func(tx dbTx) error) error {
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(dbTx{Queries: s.q.WithTx(tx), conn: tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// uncommittedRead is the transaction of a read of the claim heads: read-only, at READ
// UNCOMMITTED. The heads are hints (the claim decides, with SKIP LOCKED), and a
// consistent read of them is dear while jobs are claimed: each claim leaves the index
// entries of its jobs delete-marked until the server purges them, and a consistent
// read looks each one up in the table to see whether an older version is visible;
// READ UNCOMMITTED steps over them. Measured during a 150 000-job drain, 15 reads of
// each, alternated: 10.5 ms median at READ COMMITTED, 0.8 ms at READ UNCOMMITTED
// (docs/performance.md, section 17). An uncommitted job seen by it is at worst a claim
// that finds nothing.
var uncommittedRead = &sql.TxOptions{Isolation: sql.LevelReadUncommitted, ReadOnly: true}

// claimHeadsUncommitted reads a queue's claim heads (uncommittedRead).
func (s *store) claimHeadsUncommitted(ctx context.Context, queue string) ([]dbsqlc.JobClaimHeadsRow, error) {
	var heads []dbsqlc.JobClaimHeadsRow
	err := s.inTxOnce(ctx, uncommittedRead, func(tx dbTx) error {
		var err error
		heads, err = tx.JobClaimHeads(ctx, queue)
		return err
	})
	return heads, err
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nullTime(t time.Time) sql.NullTime { return sql.NullTime{Time: t, Valid: !t.IsZero()} }

func nullInt64(n int64) sql.NullInt64 { return sql.NullInt64{Int64: n, Valid: true} }
