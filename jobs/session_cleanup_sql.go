package jobs

import (
	"fmt"
	"regexp"
	"strings"
)

// This file is the only place where SQL is built from a string: the session table's name
// is configurable (jobs.session_cleanup.table) and neither placeholders nor sqlc can
// stand for a table name. The name is checked against sessionIdentRe — letters, digits
// and underscores, optionally "schema.table" — and every part is backquoted, so no
// value can change the statements' shape. Every other value is a placeholder.
//
// expire_date is a DATETIME(6), which has no time zone: Django with USE_TZ = True (the
// platform's setting) stores it in UTC, so the cutoff is UTC_TIMESTAMP(6), not NOW(6).

// sessionIdentRe is one part of the table name: an unquoted MySQL identifier that
// needs no quoting, at most 64 characters.
var sessionIdentRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// sessionTableName validates name ("table" or "schema.table") and returns it quoted.
func sessionTableName(name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("%q: use table or schema.table", name)
	}
	quoted := make([]string, len(parts))
	for i, p := range parts {
		if !sessionIdentRe.MatchString(p) {
			return "", fmt.Errorf("%q is not a plain identifier (letters, digits, _; at most 64; not starting with a digit)", name)
		}
		quoted[i] = "`" + p + "`"
	}
	return strings.Join(quoted, "."), nil
}

// sessionSQL holds session_cleanup's statements on one session table.
type sessionSQL struct {
	table string // as configured, for messages
	// cutoff: now in UTC, with microseconds (sqlc's catalog lacks UTC_TIMESTAMP(fsp)).
	cutoff string
	// selectExpired: up to ? keys of sessions expired before the cutoff, oldest first,
	// by a range of the expire_date index; a plain read, no locks.
	selectExpired string
	// deleteKeys (with deleteKeysArgs): deletes by primary key; expire_date is checked
	// again, since the app may have extended a session since it was selected.
	deleteKeysHead string
	countAll       string
	countExpired   string
}

func newSessionSQL(name string) (sessionSQL, error) {
	t, err := sessionTableName(name)
	if err != nil {
		return sessionSQL{}, err
	}
	return sessionSQL{
		table:          name,
		cutoff:         "SELECT UTC_TIMESTAMP(6)",
		selectExpired:  "SELECT session_key FROM " + t + " WHERE expire_date < ? ORDER BY expire_date LIMIT ?",
		deleteKeysHead: "DELETE FROM " + t + " WHERE expire_date < ? AND session_key IN (",
		countAll:       "SELECT COUNT(*) FROM " + t,
		countExpired:   "SELECT COUNT(*) FROM " + t + " WHERE expire_date < ?",
	}, nil
}

// deleteKeys is the DELETE of keys (at least one) expired before cutoff, with its args.
func (s sessionSQL) deleteKeys(cutoff any, keys []string) (string, []any) {
	var b strings.Builder
	b.Grow(len(s.deleteKeysHead) + 2*len(keys) + 1)
	b.WriteString(s.deleteKeysHead)
	args := make([]any, 0, len(keys)+1)
	args = append(args, cutoff)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('?')
		args = append(args, k)
	}
	b.WriteByte(')')
	return b.String(), args
}
