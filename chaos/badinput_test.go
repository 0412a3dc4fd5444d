package chaos

import "testing"

// TestFuzzDeadlineRace: a bare "context deadline exceeded" at the end of -fuzztime
// (as FuzzEnqueueBatch failed once in make chaos, its executions per second fallen to
// 0) is Go's coordinator race; a written failing input, a panic or a failed check of
// the target is a finding.
func TestFuzzDeadlineRace(t *testing.T) {
	t.Parallel()
	const race = `fuzz: elapsed: 21s, execs: 40397 (260/sec), new interesting: 19 (total: 161)
fuzz: elapsed: 21s, execs: 40397 (0/sec), new interesting: 19 (total: 161)
--- FAIL: FuzzEnqueueBatch (21.28s)
    context deadline exceeded
FAIL
exit status 1
FAIL	github.com/iact/iactq/cmd/iactq	21.320s
`
	if !fuzzDeadlineRace(race) {
		t.Error("the coordinator's deadline race taken for a finding")
	}
	for name, out := range map[string]string{
		"failing input": `--- FAIL: FuzzEnqueueBatch (3.10s)
    --- FAIL: FuzzEnqueueBatch (0.01s)
        fuzz_test.go:88: exit 0 but no job inserted
    Failing input written to testdata/fuzz/FuzzEnqueueBatch/0123abcd
    context deadline exceeded
`,
		"panic": `--- FAIL: FuzzKindArgs (2.00s)
    panic: runtime error: index out of range
    context deadline exceeded
`,
		"a check of the target": `--- FAIL: FuzzParseDSN (20.4s)
    fuzz_test.go:40: parsed a DSN it then refused
    context deadline exceeded
`,
	} {
		if fuzzDeadlineRace(out) {
			t.Errorf("%s: taken for the coordinator's deadline race", name)
		}
	}
}
