package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/internal/waitfor"
	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// testArgs is a kind whose behaviour the test controls.
type testArgs struct {
	N     int             `json:"n"`
	Fail  bool            `json:"fail"`
	Extra json.RawMessage `json:"extra,omitempty"` // free JSON, for what the server refuses
}

func (testArgs) Kind() string { return "test" }

func (a testArgs) Validate() error {
	if a.N < 0 {
		return errors.New("n must not be negative")
	}
	return nil
}

type bundle struct {
	db     *queuetest.DB
	client *queue.Client
	ran    chan *queue.Job[testArgs]
	work   func(ctx context.Context, j *queue.Job[testArgs]) error
}

func setup(t *testing.T, cfg queue.Config) *bundle {
	t.Helper()
	b := &bundle{db: queuetest.New(t), ran: make(chan *queue.Job[testArgs], 10000)}
	reg := queue.NewRegistry()
	queue.Register(reg, queue.WorkFunc[otherArgs](func(context.Context, *queue.Job[otherArgs]) error { return nil }))
	queue.Register(reg, queue.WorkFunc[testArgs](func(ctx context.Context, j *queue.Job[testArgs]) error {
		b.ran <- j
		if b.work != nil {
			return b.work(ctx, j)
		}
		if j.Args.Fail {
			return errors.New("asked to fail")
		}
		return nil
	}))
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	c, err := queue.NewClient(b.db.DB, reg, cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel))
	if err != nil {
		t.Fatal(err)
	}
	b.client = c
	return b
}

// startWorker runs Work until the test ends.
func (b *bundle) startWorker(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.client.Work(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (b *bundle) waitState(t *testing.T, id int64, want queue.State) *queue.JobRow {
	t.Helper()
	var j *queue.JobRow
	waitfor.True(t, 20*time.Second, func() bool {
		var err error
		if j, err = b.client.GetJob(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		return j.State == want
	}, func() string { return fmt.Sprintf("job %d is %s, want %s (errors %s)", id, j.State, want, j.Errors) })
	return j
}

func TestPlainSQLInsertIsRun(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{})
	res := b.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('test', '{"n": 7}')`)
	id, _ := res.LastInsertId()
	b.startWorker(t)
	j := b.waitState(t, id, queue.StateCompleted)
	if j.Attempt != 1 || j.FinishedAt.IsZero() {
		t.Fatalf("completed job: attempt %d finished %v", j.Attempt, j.FinishedAt)
	}
	got := <-b.ran
	if got.Args.N != 7 {
		t.Fatalf("args decoded as %+v", got.Args)
	}
}

func TestRetryThenDiscardAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{Retry: queue.RetryPolicy{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}})
	ctx := context.Background()
	res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{Fail: true}, MaxAttempts: 3, RequestedBy: "analyst"})
	if err != nil {
		t.Fatal(err)
	}
	b.startWorker(t)
	j := b.waitState(t, res.ID, queue.StateDiscarded)
	if j.Attempt != 3 {
		t.Fatalf("attempt = %d, want 3", j.Attempt)
	}
	errs := j.AttemptErrors()
	if len(errs) != 3 || errs[2].Attempt != 3 || errs[0].Error != "asked to fail" {
		t.Fatalf("errors = %+v", errs)
	}
	msgs, err := b.client.Messages(ctx, "analyst", false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].JobID != res.ID {
		t.Fatalf("messages = %+v", msgs)
	}
}

func TestBadArgsAndUnknownKindAreDiscardedAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{UnknownKindGrace: queue.DiscardAtOnce})
	bad := b.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('test', '{"n": -1}')`)
	badID, _ := bad.LastInsertId()
	unknown := b.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('no_such_kind', '{}')`)
	unknownID, _ := unknown.LastInsertId()
	notObject := b.db.Exec(t, `INSERT INTO iactq_jobs (kind, args) VALUES ('test', '[1,2]')`)
	notObjectID, _ := notObject.LastInsertId()
	b.startWorker(t)
	for id, want := range map[int64]string{badID: "n must not be negative", unknownID: `unknown kind "no_such_kind"`, notObjectID: "must be a JSON object"} {
		j := b.waitState(t, id, queue.StateDiscarded)
		errs := j.AttemptErrors()
		attempts := 1
		if id == unknownID {
			attempts = 0 // discarded without being claimed
		}
		if j.Attempt != attempts || len(errs) != 1 || !strings.Contains(errs[0].Error, want) {
			t.Errorf("job %d: attempt %d errors %+v, want one containing %q", id, j.Attempt, errs, want)
		}
	}
	// The API refuses the same input before writing anything.
	if _, err := b.client.Insert(context.Background(), queue.InsertParams{Kind: "test", Args: json.RawMessage(`{"n":-1}`)}); err == nil {
		t.Fatal("insert with bad args succeeded")
	}
	if _, err := b.client.Insert(context.Background(), queue.InsertParams{Kind: "nope"}); err == nil {
		t.Fatal("insert of unknown kind succeeded")
	}
}
