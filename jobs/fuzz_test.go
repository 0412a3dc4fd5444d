package jobs_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

// safeRevision is what may reach git as a revision: no shell or option syntax.
var safeRevision = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/+-]*$`)

// FuzzKindArgs decodes arbitrary bytes as the args of every registered kind, as the
// CLI and the worker do: it never panics, and it returns nil or a ValidationError.
// Accepted deploy args never carry shell or option syntax.
func FuzzKindArgs(f *testing.F) {
	reg := jobs.NewRegistry(jobs.Deps{})
	kinds := reg.Kinds()
	if len(kinds) < 10 {
		f.Fatalf("only %d kinds registered: %v", len(kinds), kinds)
	}
	for _, seed := range []string{
		`{}`,
		``,
		` `,
		`null`,
		`[]`,
		`"x"`,
		`{"sleep_ms": 100, "fail_attempts": 2, "panic": false}`,
		`{"sleep_ms": -1}`,
		`{"sleep_ms": 1e400}`,
		`{"sleep_ms": 9223372036854775808}`,
		`{"SLEEP_MS": 5}`,
		`{"sleep_ms": 1, "sleep_ms": 2}`,
		`{"env": "staging", "revision": "abc123"}`,
		`{"env": "production", "revision": "v1.2.3"}`,
		`{"env": "staging", "revision": "$(id)"}`,
		`{"env": "staging", "revision": "-oProxyCommand=id"}`,
		`{"env": "staging", "revision": "a..b"}`,
		`{"env": "staging", "revision": "main\u0000"}`,
		`{"deploy_id": 1, "step": "migrate"}`,
		`{"deploy_id": -1, "step": "../../etc/passwd"}`,
		`{"period": "last 24h"}`,
		`{"period": "last 7d", "granularity": "day"}`,
		`{"period": "today"}`,
		`{"period": "2026-11-01/2026-11-08", "flow_id": "main"}`,
		`{"period": "2026-13-01/2026-11-08"}`,
		`{"period": "0000-01-01/9999-12-31"}`,
		`{"period": "last 99999999999999999999h"}`,
		`{"period": "last -5d"}`,
		`{"period": "last 0h"}`,
		`{"period": "2026-11-08/2026-11-01"}`,
		`{"period": "2026-11-01T10:00:00Z/2026-11-01T09:00:00+01:00"}`,
		`{"flow_id": "x'; DROP TABLE ivr_calls; --"}`,
		`{"flow_id": "main", "top": 5}`,
		`{"top": -1}`,
		`{"threshold_seconds": 30}`,
		`{"threshold_seconds": null}`,
		`{"threshold_seconds": -30}`,
		`{"batch_size": 500, "max_batches": 10}`,
		`{"batch_size": 99999999999}`,
		`{"window_days": 30}`,
		`{"window_days": 0}`,
		`{"window_days": 366}`,
		`{"period": "\ud800"}`,
		"{\"period\": \"\xff\"}",
		`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
		`{"period": "last 24h"} trailing`,
		`{"period": "last 24h"}{"period": "last 7d"}`,
		// Found by fuzzing: an unknown field's name is quoted whole in the error, each
		// invalid byte as \xNN, so the message grows to four times the args.
		`{"` + strings.Repeat("\xd8", 1500) + `": 1}`,
	} {
		for i := range kinds {
			f.Add(i, []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, k int, raw []byte) {
		if k < 0 {
			k = -k
		}
		kind := kinds[k%len(kinds)]
		err := reg.Validate(kind, json.RawMessage(raw))
		if err != nil {
			var ve *queue.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("%s %q: %v is not a ValidationError", kind, raw, err)
			}
			if len(err.Error()) > 2000 {
				t.Errorf("%s: a %d-byte error for %d bytes of args: abbreviate the input", kind, len(err.Error()), len(raw))
			}
			return
		}
		if kind == "deploy" {
			var a jobs.DeployArgs
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatalf("accepted deploy args %q do not decode: %v", raw, err)
			}
			if !safeRevision.MatchString(a.Revision) || strings.Contains(a.Revision, "..") {
				t.Fatalf("accepted deploy revision %q", a.Revision)
			}
		}
	})
}
