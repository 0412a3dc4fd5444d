package queue

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/iact/iactq/internal/dberr"
)

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the job is discarded at once instead of retried: bad
// arguments, a missing report, anything a second attempt would fail the same way.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// IsPermanent tells whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Why a job's context ended, from outside the job: context.Cause(ctx) of a running
// job's context is one of these (or context.DeadlineExceeded at its kind's timeout).
var (
	// ErrCancelledByOperator: an operator cancelled the job while it ran; it stays
	// cancelled, and nothing the execution returns is recorded.
	ErrCancelledByOperator = errors.New("cancelled by an operator")
	// ErrWorkerLost: this worker was declared dead (its heartbeat lapsed while it was
	// cut off) and its jobs were given back to the queue: they run elsewhere, and
	// nothing the execution returns is recorded.
	ErrWorkerLost = errors.New("this worker was declared dead; its jobs run elsewhere")
	// ErrShuttingDown: the worker is stopping and the grace period is over; the job
	// goes back to the queue, its attempt not spent.
	ErrShuttingDown = errors.New("the worker is shutting down and the grace period is over")
)

// ValidationError is returned for input rejected before anything is written: an
// unknown kind, bad args, a bad option. The CLI exits 2 on it.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

func invalidf(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// SchemaMissing tells whether err is the server saying that a table of iactq's schema
// does not exist (MySQL error 1146) or lacks a column this build uses (1054): the
// database is not migrated, or migrated by an older build. what names the missing
// table or column.
func SchemaMissing(err error) (what string, ok bool) {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return "", false
	}
	switch me.Number {
	case dberr.NoSuchTable:
		// "Table 'db.iactq_jobs' doesn't exist"
		_, quoted, _ := strings.Cut(me.Message, "'")
		name, _, _ := strings.Cut(quoted, "'")
		table := name[strings.LastIndexByte(name, '.')+1:]
		if ownTable(table) {
			return "table " + table, true
		}
	case dberr.BadField:
		// "Unknown column 'kinds' in 'field list'": iactq's queries name only its
		// own tables' columns.
		_, quoted, _ := strings.Cut(me.Message, "'")
		column, _, _ := strings.Cut(quoted, "'")
		return "column " + column, true
	}
	return "", false
}

// ownTable tells whether table is one iactq's migrations create.
func ownTable(table string) bool {
	return strings.HasPrefix(table, "iactq_") || strings.HasPrefix(table, "ivr_") || table == "internal_messages"
}
