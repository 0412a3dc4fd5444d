package chaos

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// iactqBinary is $IACTQ_BIN (set by make test) or a fresh build of cmd/iactq.
func iactqBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("IACTQ_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "iactq-chaos-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "iactq")
		if out, err := exec.Command("go", "build", "-o", binPath, "../cmd/iactq").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build iactq: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// shortOptions are the options of the short scenarios make test runs.
func shortOptions(t *testing.T) Options {
	admin, worker := os.Getenv("IACTQ_TEST_ADMIN_DSN"), os.Getenv("IACTQ_TEST_WORKER_DSN")
	if admin == "" || worker == "" {
		t.Fatal("IACTQ_TEST_ADMIN_DSN and IACTQ_TEST_WORKER_DSN are not set: run the tests with `make test`, which starts the test database")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		Short:  true,
		Bin:    iactqBinary(t),
		Root:   root,
		Server: Server{AdminDSN: admin, WorkerDSN: worker},
		Dir:    t.TempDir(),
		Logf:   t.Logf,
	}
}

// requirePassed prints the scenario's table and fails the test unless every check
// held; lost, double-executed and stuck are asserted one by one.
func requirePassed(t *testing.T, dir string, r *Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("scenario could not run: %v", err)
	}
	var b bytes.Buffer
	WriteTable(&b, []*Result{r})
	t.Logf("\n%s", b.String())
	if r.Lost != 0 {
		t.Errorf("%d jobs lost", r.Lost)
	}
	if r.Double != 0 {
		t.Errorf("%d jobs executed in two places at once", r.Double)
	}
	if r.Stuck != 0 {
		t.Errorf("%d jobs stuck", r.Stuck)
	}
	for _, f := range r.Failures {
		t.Errorf("%s", f)
	}
	if t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(dir, "*", "worker-*.log"))
		for _, l := range logs[:min(3, len(logs))] {
			t.Logf("%s (tail):\n%s", l, tailFile(l, 1500))
		}
	}
}

func TestCrashingWorkersShort(t *testing.T) {
	t.Parallel()
	o := shortOptions(t)
	r, err := CrashingWorkers(context.Background(), o)
	requirePassed(t, o.Dir, r, err)
	if r != nil && r.Faults < 3 {
		t.Errorf("only %d faults injected", r.Faults)
	}
}

func TestDatabaseGoesAwayShort(t *testing.T) {
	t.Parallel()
	o := shortOptions(t)
	r, err := DatabaseGoesAway(context.Background(), o, fmt.Sprintf("chaos-away-%d", os.Getpid()))
	requirePassed(t, o.Dir, r, err)
}

func TestContentionShort(t *testing.T) {
	t.Parallel()
	o := shortOptions(t)
	r, err := Contention(context.Background(), o)
	requirePassed(t, o.Dir, r, err)
}

func TestBadInputShort(t *testing.T) {
	t.Parallel()
	o := shortOptions(t)
	r, err := BadInput(context.Background(), o)
	requirePassed(t, o.Dir, r, err)
}

func TestLeastPrivilegeShort(t *testing.T) {
	t.Parallel()
	o := shortOptions(t)
	r, err := LeastPrivilege(context.Background(), o)
	requirePassed(t, o.Dir, r, err)
}
