package queue_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
)

var fuzzNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)

// FuzzInsertParams checks the validation of InsertParams: it never panics, refuses
// with a ValidationError only, and whatever it accepts fits the table (valid UTF-8
// JSON object within the limit, a queue name a worker can work, strings within their
// columns, a date a TIMESTAMP holds). No database is needed: validation writes
// nothing and reads nothing.
func FuzzInsertParams(f *testing.F) {
	const limit = 4096
	c, err := queue.NewClient(nil, blobRegistry(nil), queue.Config{MaxArgsBytes: limit}, zerolog.Nop())
	if err != nil {
		f.Fatal(err)
	}
	seeds := []struct {
		kind, args, queue, unique, by string
		attempts                      int
		at                            int64
	}{
		{"blob", `{}`, "", "", "", 0, 0},
		{"blob", `{"blob":"x","n":3}`, "reports", "k1", "analyst", 5, time.Now().Add(time.Hour).Unix()},
		{"blob", `{"blob":"\ud800"}`, "default", "", "", 0, 0},
		{"blob", `{"extra":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, "", "", "", 0, 0},
		{"blob", "{\"blob\":\"\xff\"}", "", "", "", 0, 0},
		{"blob", `{"n":-1}`, "", "", "", 0, 0},
		{"blob", `{"n":1e400}`, "", "", "", 0, 0},
		{"blob", `{"N":1,"n":2}`, "", "", "", 0, 0},
		{"blob", `[]`, "", "", "", 0, 0},
		{"blob", `null`, "", "", "", 0, 0},
		{"blob", ` `, "", "", "", 0, 0},
		{"blob", `{} {}`, "", "", "", 0, 0},
		{"blob", `{"blob":"` + strings.Repeat("x", limit) + `"}`, "", "", "", 0, 0},
		{"nope", `{}`, "", "", "", 0, 0},
		{"", `{}`, "", "", "", 0, 0},
		{"blob", `{}`, "bad queue", "", "", 0, 0},
		{"blob", `{}`, "q' OR '1'='1", "'; DROP TABLE iactq_jobs; --", "x\x00y", 0, 0},
		{"blob", `{}`, strings.Repeat("q", 101), strings.Repeat("u", 256), strings.Repeat("r", 256), 0, 0},
		{"blob", `{}`, "", "", "", -1, 0},
		{"blob", `{}`, "", "", "", 1001, 0},
		{"blob", `{}`, "", "", "", 0, time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC).Unix()},
		{"blob", `{}`, "", "", "", 0, time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).Unix()},
		{"blob", `{}`, "", "", "", 0, -62135596800}, // year 1: the zero time, which means now
		{"blob", `{}`, "", "", "", 0, 1<<62 - 1},
	}
	for _, s := range seeds {
		f.Add(s.kind, []byte(s.args), s.queue, s.unique, s.by, s.attempts, s.at)
	}
	f.Fuzz(func(t *testing.T, kind string, args []byte, queueName, unique, by string, attempts int, at int64) {
		p := queue.InsertParams{Kind: kind, Args: json.RawMessage(args), Queue: queueName, UniqueKey: unique, RequestedBy: by, MaxAttempts: attempts}
		if at != 0 {
			p.ScheduledAt = time.Unix(at, 0)
		}
		err := c.ValidateInsert(p)
		if err != nil {
			var ve *queue.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("%v: not a ValidationError (%T)", err, err)
			}
			if !utf8.ValidString(err.Error()) && utf8.ValidString(kind+queueName) {
				t.Errorf("error message is not valid UTF-8: %q", err)
			}
			return
		}
		// Accepted: it must fit the table and be runnable.
		raw := args
		if len(raw) == 0 {
			raw = []byte(`{}`)
		}
		if len(raw) > limit || !utf8.Valid(raw) || !json.Valid(raw) {
			t.Fatalf("accepted args %q", raw)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			t.Fatalf("accepted args that are not an object: %q", raw)
		}
		if kind != "blob" {
			t.Fatalf("accepted kind %q", kind)
		}
		if queueName != "" && !fuzzNamePattern.MatchString(queueName) {
			t.Fatalf("accepted queue %q", queueName)
		}
		if len(unique) > 255 || !utf8.ValidString(unique) || len(by) > 255 || !utf8.ValidString(by) {
			t.Fatalf("accepted unique key %q requested by %q", unique, by)
		}
		if attempts < 0 || attempts > 1000 {
			t.Fatalf("accepted max attempts %d", attempts)
		}
		if !p.ScheduledAt.IsZero() && (p.ScheduledAt.Before(time.Unix(1, 0)) || p.ScheduledAt.After(time.Unix(1<<31-1, 0))) {
			t.Fatalf("accepted scheduled time %v", p.ScheduledAt)
		}
	})
}

// FuzzParseDSN checks that ParseDSN never panics and that neither its error nor
// RedactDSN ever holds the password, whatever the rest of the DSN looks like.
func FuzzParseDSN(f *testing.F) {
	for _, s := range []struct{ user, pw, rest string }{
		{"iactq", "s3cretpw", "tcp(127.0.0.1:3306)/iact"},
		{"iactq", "s3cretpw", "tcp(127.0.0.1:3306/iact"},
		{"iactq", "s3cretpw", "unix(/run/mysqld/mysqld.sock)/iact?parseTime=true"},
		{"iactq", "s3cret@pw", "tcp(h)/db"},
		{"iactq", "s3:cret/pw", "tcp(h)/db?timeout=xyz"},
		{"iactq", "pa%zzss", "tcp(h)/db?a=%zz"},
		{"", "s3cretpw", "/db"},
		{"iactq", "s3cretpw", "tcp(h)/db?tls=nope"},
		{"iactq", "s3cretpw", "tcp(h)/db?charset=utf8mb4&collation=bad"},
		{"iactq", "s3cretpw", "tcp(h)/db?loc=Nowhere/City"},
		{"iactq", "s3cretpw", "(h)"},
	} {
		f.Add(s.user, s.pw, s.rest)
	}
	f.Fuzz(func(t *testing.T, user, pw, rest string) {
		if len(pw) < 4 || strings.Contains(user+rest, pw) || strings.ContainsAny(user, ":@/") ||
			strings.Contains(user+":***@"+rest, pw) {
			return // the password is not told apart from the rest (or its redaction)
		}
		dsn := user + ":" + pw + "@" + rest
		cfg, err := queue.ParseDSN(dsn)
		if err != nil {
			if strings.Contains(err.Error(), pw) {
				// Unless the message says it anyway (a password "DSN " or "tcp(").
				_, ref := queue.ParseDSN(user + ":" + strings.Repeat("#", len(pw)) + "@" + rest)
				if ref != nil && strings.Contains(ref.Error(), pw) {
					return
				}
				t.Fatalf("ParseDSN(%q) error holds the password: %v", dsn, err)
			}
		} else if cfg.Passwd != pw && !strings.Contains(pw, "@") {
			// The driver split the DSN elsewhere: the password is something else.
			return
		}
		if red := queue.RedactDSN(dsn); strings.Contains(red, pw) {
			t.Fatalf("RedactDSN(%q) = %q holds the password", dsn, red)
		}
	})
}
