package queue_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
	"github.com/iact/iactq/queue/queuetest"
)

// ResizeArgs are the args of the example kind "resize".
type ResizeArgs struct {
	Path string `json:"path"`
}

// Kind names the kind in iactq_jobs.kind.
func (ResizeArgs) Kind() string { return "resize" }

// Validate refuses a job without a path: Insert returns a *queue.ValidationError, and
// a row inserted with SQL is discarded at once with the reason.
func (a ResizeArgs) Validate() error {
	if a.Path == "" {
		return errors.New("path is required")
	}
	return nil
}

// exampleDB opens a fresh, migrated database on the server that `make test` starts,
// and returns a function that drops it. An app opens its own with
// queue.OpenDB(os.Getenv("IACTQ_DSN")).
func exampleDB() (*sql.DB, func()) {
	d, err := queuetest.Create(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	return d.DB, func() { _ = d.Drop(context.Background()) }
}

// finished tells when the workers have recorded the outcome of n jobs.
type finished struct {
	queue.NopObserver
	done chan struct{}
	n    atomic.Int32
}

func newFinished(n int32) *finished {
	f := &finished{done: make(chan struct{})}
	f.n.Store(n)
	return f
}

func (f *finished) Finished(*queue.JobRow, queue.State, time.Duration, time.Duration) {
	if f.n.Add(-1) == 0 {
		close(f.done)
	}
}

// A kind is an args type and a function; jobs enqueued with Insert (or plain SQL) run
// in Work, and the requester finds the outcome in the internal messages.
func Example() {
	ctx := context.Background()
	db, drop := exampleDB()
	defer drop()

	registry := queue.NewRegistry()
	queue.Register(registry, queue.WorkFunc[ResizeArgs](func(ctx context.Context, job *queue.Job[ResizeArgs]) error {
		job.Report("resized " + job.Args.Path) // the requester's message
		return nil
	}))
	done := newFinished(1)
	client, err := queue.NewClient(db, registry, queue.Config{
		Queues:   map[string]int{"default": 2},
		Observer: done, // told of each recorded outcome
	}, zerolog.Nop())
	if err != nil {
		log.Fatal(err)
	}

	res, err := client.Insert(ctx, queue.InsertParams{
		Kind:        "resize",
		Args:        ResizeArgs{Path: "logo.png"},
		RequestedBy: "alice",
	})
	if err != nil {
		log.Fatal(err)
	}

	workCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- client.Work(workCtx) }()
	<-done.done
	stop() // Work drains and returns
	if err := <-stopped; err != nil {
		log.Fatal(err)
	}

	job, err := client.GetJob(ctx, res.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("job", job.ID, job.State, "on attempt", job.Attempt)
	msgs, err := client.Messages(ctx, "alice", true, 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range msgs {
		fmt.Printf("to %s: %s\n%s\n", m.Recipient, m.Subject, m.Body)
	}
	// Output:
	// job 1 completed on attempt 1
	// to alice: resize job 1 completed
	// resized logo.png
	// Details: iactq jobs show 1
}

// Insert validates the job as a worker would before writing anything.
func ExampleClient_Insert() {
	ctx := context.Background()
	db, drop := exampleDB()
	defer drop()

	registry := queue.NewRegistry()
	queue.Register(registry, queue.WorkFunc[ResizeArgs](func(context.Context, *queue.Job[ResizeArgs]) error { return nil }))
	client, err := queue.NewClient(db, registry, queue.Config{}, zerolog.Nop())
	if err != nil {
		log.Fatal(err)
	}

	res, err := client.Insert(ctx, queue.InsertParams{
		Kind:        "resize",
		Queue:       "images",
		Args:        ResizeArgs{Path: "logo.png"},
		ScheduledAt: time.Now().Add(time.Hour), // not before
		MaxAttempts: 5,
	})
	if err != nil {
		log.Fatal(err)
	}
	job, err := client.GetJob(ctx, res.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.Kind, job.Queue, job.State, string(job.Args))

	_, err = client.Insert(ctx, queue.InsertParams{Kind: "resize", Args: ResizeArgs{}})
	var invalid *queue.ValidationError
	fmt.Println(errors.As(err, &invalid), err)
	_, err = client.Insert(ctx, queue.InsertParams{Kind: "resise"})
	fmt.Println(errors.As(err, &invalid), err)
	// Output:
	// resize images scheduled {"path":"logo.png"}
	// true invalid args for resize: path is required
	// true unknown kind "resise" (known kinds: [resize])
}

// A unique key keeps a second live job from being created: the insert returns the
// existing job's id.
func ExampleClient_Insert_uniqueKey() {
	ctx := context.Background()
	db, drop := exampleDB()
	defer drop()

	registry := queue.NewRegistry()
	queue.Register(registry, queue.WorkFunc[ResizeArgs](func(context.Context, *queue.Job[ResizeArgs]) error { return nil }))
	client, err := queue.NewClient(db, registry, queue.Config{}, zerolog.Nop())
	if err != nil {
		log.Fatal(err)
	}

	for range 2 {
		res, err := client.Insert(ctx, queue.InsertParams{
			Kind:      "resize",
			Args:      ResizeArgs{Path: "logo.png"},
			UniqueKey: "resize:logo.png",
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("job", res.ID, "duplicate:", res.Duplicate)
	}
	// Output:
	// job 1 duplicate: false
	// job 1 duplicate: true
}

// InsertTx writes the job in the app's own transaction: it exists if and only if the
// app's writes commit.
func ExampleClient_InsertTx() {
	ctx := context.Background()
	db, drop := exampleDB()
	defer drop()

	registry := queue.NewRegistry()
	queue.Register(registry, queue.WorkFunc[ResizeArgs](func(context.Context, *queue.Job[ResizeArgs]) error { return nil }))
	client, err := queue.NewClient(db, registry, queue.Config{}, zerolog.Nop())
	if err != nil {
		log.Fatal(err)
	}

	for _, commit := range []bool{false, true} {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			log.Fatal(err)
		}
		// ... the app's own writes, in tx ...
		res, err := client.InsertTx(ctx, tx, queue.InsertParams{Kind: "resize", Args: ResizeArgs{Path: "logo.png"}})
		if err != nil {
			log.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			log.Fatal(err)
		}
		_, err = client.GetJob(ctx, res.ID)
		fmt.Printf("commit %v: job exists: %v\n", commit, err == nil)
	}
	// Output:
	// commit false: job exists: false
	// commit true: job exists: true
}

// A worker's error retries the job with back-off; queue.Permanent discards it at once,
// with the reason recorded and its requester told.
func ExamplePermanent() {
	ctx := context.Background()
	db, drop := exampleDB()
	defer drop()

	registry := queue.NewRegistry()
	queue.Register(registry, queue.WorkFunc[ResizeArgs](func(ctx context.Context, job *queue.Job[ResizeArgs]) error {
		return queue.Permanent(fmt.Errorf("%s is not an image", job.Args.Path))
	}))
	done := newFinished(1)
	client, err := queue.NewClient(db, registry, queue.Config{Observer: done}, zerolog.Nop())
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.Insert(ctx, queue.InsertParams{Kind: "resize", Args: ResizeArgs{Path: "notes.txt"}})
	if err != nil {
		log.Fatal(err)
	}

	workCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- client.Work(workCtx) }()
	<-done.done
	stop()
	if err := <-stopped; err != nil {
		log.Fatal(err)
	}

	job, err := client.GetJob(ctx, res.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.State, "after", job.Attempt, "attempt(s) of", job.MaxAttempts)
	for _, e := range job.AttemptErrors() {
		fmt.Printf("attempt %d: %s\n", e.Attempt, e.Error)
	}
	// Output:
	// discarded after 1 attempt(s) of 25
	// attempt 1: notes.txt is not an image
}
