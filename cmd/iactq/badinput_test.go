package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestEnqueueBadInputClearError: every kind of bad input through the CLI, one job at a
// time and in a batch, exits 2 with one clear message saying what is wrong, and writes
// nothing.
func TestEnqueueBadInputClearError(t *testing.T) {
	d, c := setup(t)
	big := `{"sleep_ms":1,"x":"` + strings.Repeat("a", 1<<20) + `"}`
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"args over 1 MiB", []string{"enqueue", "noop", "--args", big}, "over the limit of 1048576"},
		{"args invalid UTF-8", []string{"enqueue", "noop", "--args", "{\"sleep_ms\":1,\"\xff\":1}"}, "not valid UTF-8"},
		{"args invalid JSON", []string{"enqueue", "noop", "--args", `{"sleep_ms":`}, "not valid JSON"},
		{"args null", []string{"enqueue", "noop", "--args", `null`}, "must be a JSON object"},
		{"args empty", []string{"enqueue", "noop", "--args", ``}, ""},
		{"args with SQL", []string{"enqueue", "noop", "--args", `{"sleep_ms":"1; DROP TABLE iactq_jobs"}`}, "invalid args for noop"},
		{"kind of 100 chars", []string{"enqueue", strings.Repeat("k", 100)}, "unknown kind"},
		{"kind of 5000 chars", []string{"enqueue", strings.Repeat("k", 5000)}, "unknown kind"},
		{"kind with SQL", []string{"enqueue", "noop'; DROP TABLE iactq_jobs; --"}, "unknown kind"},
		{"kind with a newline", []string{"enqueue", "noop\n"}, "unknown kind"},
		{"kind invalid UTF-8", []string{"enqueue", "no\xffop"}, "unknown kind"},
		{"queue with spaces", []string{"enqueue", "noop", "--queue", "my queue"}, `invalid queue name "my queue"`},
		{"queue of 101 chars", []string{"enqueue", "noop", "--queue", strings.Repeat("q", 101)}, "invalid queue name"},
		{"queue with SQL", []string{"enqueue", "noop", "--queue", "q'; DROP TABLE iactq_jobs; --"}, "invalid queue name"},
		{"queue empty", []string{"enqueue", "noop", "--queue", ""}, ""},
		{"unique key of 256 bytes", []string{"enqueue", "noop", "--unique-key", strings.Repeat("u", 256)}, "unique key"},
		{"requested-by invalid UTF-8", []string{"enqueue", "noop", "--requested-by", "an\xffalyst"}, "requested-by"},
		{"--at 2040-01-01", []string{"enqueue", "noop", "--at", "2040-01-01"}, `invalid time "2040-01-01"`},
		{"--at 2040-01-01T00:00:00Z", []string{"enqueue", "noop", "--at", "2040-01-01T00:00:00Z"}, "scheduled time 2040-01-01T00:00:00Z is out of range"},
		{"--at 2040-01-01 00:00", []string{"enqueue", "noop", "--at", "2040-01-01 00:00"}, "out of range"},
		{"--at 1960-01-01", []string{"enqueue", "noop", "--at", "1960-01-01"}, `invalid time "1960-01-01"`},
		{"--at 1960-01-01T00:00:00Z", []string{"enqueue", "noop", "--at", "1960-01-01T00:00:00Z"}, "scheduled time 1960-01-01T00:00:00Z is out of range"},
		{"--at year 0", []string{"enqueue", "noop", "--at", "0000-01-01T00:00:00Z"}, "out of range"},
		{"--at 1970-01-01T00:00:00Z", []string{"enqueue", "noop", "--at", "1970-01-01T00:00:00Z"}, "out of range"},
		{"--at 2038-01-19T03:14:08Z", []string{"enqueue", "noop", "--at", "2038-01-19T03:14:08Z"}, "out of range"},
		{"--at with SQL", []string{"enqueue", "noop", "--at", "2030-01-01'; DROP TABLE iactq_jobs; --"}, "invalid time"},
		{"--in 1000000h", []string{"enqueue", "noop", "--in", "1000000h"}, "out of range"},
		{"--in 300000h", []string{"enqueue", "noop", "--in", "300000h"}, "out of range"},
		{"--in overflowing", []string{"enqueue", "noop", "--in", "99999999999h"}, "invalid delay"},
		{"--in 1e3h", []string{"enqueue", "noop", "--in", "1e3h"}, "invalid delay"},
		{"--max-attempts huge", []string{"enqueue", "noop", "--max-attempts", "99999999999999999999"}, "max-attempts"},
	} {
		r := c.run(tc.args...)
		if tc.name == "args empty" || tc.name == "queue empty" {
			// An empty value means the default: a valid job, removed again.
			if r.code != 0 {
				t.Errorf("%s: exit %d %s", tc.name, r.code, r.stderr)
			}
			d.Exec(t, "DELETE FROM iactq_jobs")
			continue
		}
		if r.code != 2 || r.stdout != "" || !strings.HasPrefix(r.stderr, "iactq: ") || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.name, r.code, abbrevOut(r.stdout), abbrevOut(r.stderr), tc.want)
		}
		if len(r.stderr) > 1000 {
			t.Errorf("%s: a %d-byte message: the input should be abbreviated in it", tc.name, len(r.stderr))
		}
	}
	if n := countJobs(t, d); n != 0 {
		t.Fatalf("%d jobs written", n)
	}
}

// TestEnqueueBatchBadInputClearError: the same bad input as lines of --batch, after two
// good lines: exit 2 naming line 3, nothing written.
func TestEnqueueBatchBadInputClearError(t *testing.T) {
	d, c := setup(t)
	line := func(fields map[string]any) string {
		b, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, line, want string
	}{
		{"args over 1 MiB", line(map[string]any{"kind": "noop", "args": map[string]any{"x": strings.Repeat("a", 1<<20)}}), "over the limit"},
		{"line over 2 MiB", line(map[string]any{"kind": "noop", "args": map[string]any{"x": strings.Repeat("a", 3<<20)}}), "longer than"},
		{"invalid UTF-8 in the line", "{\"kind\":\"noop\",\"requested_by\":\"\xff\"}", "UTF-8"},
		{"invalid UTF-8 in args", "{\"kind\":\"noop\",\"args\":{\"\xff\":1}}", ""},
		{"kind of 100 chars", line(map[string]any{"kind": strings.Repeat("k", 100)}), "unknown kind"},
		{"kind with SQL", line(map[string]any{"kind": "noop'; DROP TABLE iactq_jobs; --"}), "unknown kind"},
		{"queue with spaces", line(map[string]any{"kind": "noop", "queue": "my queue"}), "invalid queue name"},
		{"at 2040", line(map[string]any{"kind": "noop", "at": "2040-01-01T00:00:00Z"}), "out of range"},
		{"at 1960", line(map[string]any{"kind": "noop", "at": "1960-01-01T00:00:00Z"}), "out of range"},
		{"in 1000000h", line(map[string]any{"kind": "noop", "in": "1000000h"}), "out of range"},
		{"max_attempts as a string", `{"kind":"noop","max_attempts":"3"}`, "not a JSON object of a job"},
		{"max_attempts overflowing", `{"kind":"noop","max_attempts":99999999999999999999}`, "not a JSON object of a job"},
		{"a JSON array", `[{"kind":"noop"}]`, "not a JSON object of a job"},
		{"NUL bytes", "\x00\x00", "not a JSON object of a job"},
	} {
		in := `{"kind":"noop"}` + "\n" + `{"kind":"noop"}` + "\n" + tc.line + "\n" + `{"kind":"noop"}` + "\n"
		r := c.runIn(context.Background(), in, "enqueue", "--batch")
		if r.code != 2 || r.stdout != "" || !strings.HasPrefix(r.stderr, "iactq: line 3") || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2, 'line 3' and %q", tc.name, r.code, abbrevOut(r.stdout), abbrevOut(r.stderr), tc.want)
		}
		if len(r.stderr) > 1000 {
			t.Errorf("%s: a %d-byte message", tc.name, len(r.stderr))
		}
	}
	if n := countJobs(t, d); n != 0 {
		t.Fatalf("%d jobs written", n)
	}
}

// TestEnqueueSQLMetacharactersStoredVerbatim: SQL in the free-text fields (unique key,
// requested-by) is stored byte for byte, and the tables are intact.
func TestEnqueueSQLMetacharactersStoredVerbatim(t *testing.T) {
	d, c := setup(t)
	for _, s := range []string{
		`'; DROP TABLE iactq_jobs; --`,
		`" OR "1"="1`,
		"\\'; SELECT SLEEP(10); -- \\",
		"`x`; TRUNCATE internal_messages",
		"%_\t\u2028\U0001F600",
	} {
		id := parseIDOut(t, c.ok("enqueue", "noop", "--unique-key", s, "--requested-by", s))
		var key, by string
		if err := d.DB.QueryRow("SELECT unique_key, requested_by FROM iactq_jobs WHERE id = ?", id).Scan(&key, &by); err != nil {
			t.Fatal(err)
		}
		if key != s || by != s {
			t.Errorf("stored unique_key %q requested_by %q, want %q", key, by, s)
		}
		// The same through --batch.
		in, _ := json.Marshal(map[string]string{"kind": "noop", "unique_key": "batch " + s, "requested_by": s})
		r := c.runIn(context.Background(), string(in), "enqueue", "--batch")
		if r.code != 0 {
			t.Fatalf("batch %s: exit %d %s", in, r.code, r.stderr)
		}
		// And the read side: jobs list and messages filter on it as a value.
		if r := c.run("messages", "--to", s); r.code != 0 {
			t.Errorf("messages --to %q: exit %d %s", s, r.code, r.stderr)
		}
	}
	if n := countJobs(t, d); n != 10 {
		t.Fatalf("%d jobs, want 10", n)
	}
}

func abbrevOut(s string) string {
	if len(s) <= 300 {
		return s
	}
	return s[:300] + "..."
}
