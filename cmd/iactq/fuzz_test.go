package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/iact/iactq/queue/queuetest"
)

// FuzzEnqueueBatch feeds arbitrary bytes to `iactq enqueue --batch` in-process, against
// a real database: it never panics; it exits 0, 1 or 2; when it does not exit 0 it
// writes nothing (stdout empty, no job inserted); when it exits 0 it prints one id per
// job line, each a job that exists.
func FuzzEnqueueBatch(f *testing.F) {
	d := queuetest.New(f)
	env := map[string]string{"IACTQ_DSN": d.WorkerDSN}
	getenv := func(k string) string { return env[k] }
	for _, seed := range []string{
		"",
		"\n\n  \n",
		`{"kind":"noop"}`,
		`{"kind":"noop","args":{"sleep_ms":1},"queue":"reports","in":"5m","unique_key":"u1","requested_by":"ops","max_attempts":3}` + "\n" + `{"kind":"noop"}`,
		`{"kind":"noop","at":"2030-01-01T00:00:00Z"}`,
		`{"kind":"noop","at":"2040-01-01T00:00:00Z"}`,
		`{"kind":"noop","at":"1960-01-01T00:00:00Z"}`,
		`{"kind":"noop","at":"2030-01-01 10:00"}`,
		`{"kind":"noop","in":"1000000h"}`,
		`{"kind":"noop","in":"-1s"}`,
		`{"kind":"noop","at":"2030-01-01T00:00:00Z","in":"1m"}`,
		`{"kind":"noop","max_attempts":0}`,
		`{"kind":"noop","max_attempts":1e3}`,
		`{"kind":"noop","max_attempts":99999999999999999999}`,
		`{"kind":"noop","args":null}`,
		`{"kind":"noop","args":[]}`,
		`{"kind":"noop","args":"{}"}`,
		`{"kind":"noop","args":{"sleep_ms":-1}}`,
		`{"kind":"noop","args":{"nope":1}}`,
		`{"kind":"noop","args":{"sleep_ms":1}} {"kind":"noop"}`,
		`{"kind":"noop","colour":"red"}`,
		`{"kind":""}`,
		`{"kind":"` + strings.Repeat("k", 101) + `"}`,
		`{"kind":"noop'; DROP TABLE iactq_jobs; --"}`,
		`{"kind":"noop","queue":"bad queue"}`,
		`{"kind":"noop","queue":"q' OR '1'='1"}`,
		`{"kind":"noop","unique_key":"'; DROP TABLE iactq_jobs; --","requested_by":"\" OR 1=1 --"}`,
		`{"kind":"noop","requested_by":"\ud800"}`,
		`{"kind":"noop","unique_key":"` + strings.Repeat("u", 256) + `"}`,
		"{\"kind\":\"noop\",\"requested_by\":\"\xff\"}",
		`{"kind":"noop","unique_key":"same"}` + "\n" + `{"kind":"noop","unique_key":"same"}`,
		`{"kind":"deploy","args":{"env":"staging","revision":"$(id)"}}`,
		`{"kind":"dashboard_metrics","args":{"period":"2026-11-01/2026-11-02"}}`,
		`[{"kind":"noop"}]`,
		`null`,
		`{"kind":"noop"`,
		"\x00\xff\xfe",
		"{\"kind\":\"noop\"}\r\n{\"kind\":\"noop\"}\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		before := countJobs(t, d)
		var stdout, stderr syncBuffer
		code := execute(context.Background(), []string{"enqueue", "--batch"}, getenv, bytes.NewReader(in), &stdout, &stderr)
		after := countJobs(t, d)
		out := stdout.String()
		switch code {
		case 0:
		case 1, 2:
			if after != before || out != "" {
				t.Fatalf("exit %d wrote %d jobs, stdout %q (stderr %q)", code, after-before, out, stderr.String())
			}
			if !strings.HasPrefix(stderr.String(), "iactq: ") {
				t.Fatalf("exit %d: stderr %q", code, stderr.String())
			}
			return
		default:
			t.Fatalf("exit %d (stderr %q)", code, stderr.String())
		}
		var lines int
		for _, l := range bytes.Split(in, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines++
			}
		}
		ids := strings.Fields(out)
		if len(ids) != lines || after-before > lines {
			t.Fatalf("%d job lines: %d ids printed, %d jobs written", lines, len(ids), after-before)
		}
		for _, s := range ids {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil || id <= 0 {
				t.Fatalf("stdout %q", out)
			}
			var n int
			if err := d.DB.QueryRow("SELECT COUNT(*) FROM iactq_jobs WHERE id = ?", id).Scan(&n); err != nil || n != 1 {
				t.Fatalf("printed id %d: %d rows, %v", id, n, err)
			}
		}
	})
}
