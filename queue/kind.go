package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Args are a kind's arguments, decoded from the job's args JSON.
type Args interface {
	// Kind is the name stored in iactq_jobs.kind.
	Kind() string
}

// Validator is implemented by Args that check themselves after decoding. A job whose
// args fail validation is discarded at once with the reason.
type Validator interface {
	Validate() error
}

// Job is a claimed job with its decoded args, handed to a Worker.
type Job[T Args] struct {
	*JobRow
	Args T
	out  *outcome
}

// Notify queues an internal message written in the same transaction as the job's
// completion, so it is sent exactly once, and only if the job completes.
func (j *Job[T]) Notify(recipient, subject, body string) {
	j.out.messages = append(j.out.messages, outMessage{recipient: recipient, subject: subject, body: body})
}

// Report sets the one-line summary sent to the job's requester when it completes.
func (j *Job[T]) Report(summary string) { j.out.summary = summary }

// SkipRequesterMessage leaves out the message the engine writes to the requester when
// this job completes: the kind tells the requester itself, later (a chain that reports
// once, at its end). Failures are still reported.
func (j *Job[T]) SkipRequesterMessage() { j.out.skipRequester = true }

// Then enqueues p in the transaction that records this job's completion: the follow-up
// exists if and only if this job completed (a chain of steps, a fan-out). p is
// validated now; an invalid p is returned as an error and nothing is queued.
func (j *Job[T]) Then(p InsertParams) error {
	row, err := j.out.prepare(p)
	if err != nil {
		return err
	}
	j.out.then = append(j.out.then, row)
	return nil
}

// Worker runs jobs of one kind.
type Worker[T Args] interface {
	Work(ctx context.Context, job *Job[T]) error
}

// WorkFunc makes a Worker of a function.
type WorkFunc[T Args] func(ctx context.Context, job *Job[T]) error

// Work calls f.
func (f WorkFunc[T]) Work(ctx context.Context, job *Job[T]) error { return f(ctx, job) }

// outcome is what a job execution leaves for the completer besides its error.
type outcome struct {
	summary       string
	skipRequester bool
	messages      []outMessage
	then          []insertRow                           // jobs to insert on completion
	prepare       func(InsertParams) (insertRow, error) // validates them
}

type outMessage struct{ recipient, subject, body string }

// kindEntry is a registered kind with its types erased.
type kindEntry struct {
	decode  func(raw json.RawMessage) (any, error)
	run     func(ctx context.Context, row *JobRow, args any, out *outcome) error
	timeout time.Duration
}

// Registry maps kind names to their workers.
type Registry struct {
	kinds map[string]kindEntry
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{kinds: map[string]kindEntry{}} }

// KindOption tunes a registered kind.
type KindOption func(*kindEntry)

// WithTimeout bounds each attempt of the kind; its context is cancelled after d.
func WithTimeout(d time.Duration) KindOption { return func(e *kindEntry) { e.timeout = d } }

// Register adds the kind of T to r, run by w. Registering a kind twice panics: it is a
// programming error.
func Register[T Args](r *Registry, w Worker[T], opts ...KindOption) {
	var zero T
	kind := zero.Kind()
	if _, dup := r.kinds[kind]; dup {
		panic(fmt.Sprintf("queue: kind %q registered twice", kind))
	}
	e := kindEntry{
		decode: func(raw json.RawMessage) (any, error) { return decodeArgs[T](raw) },
		run: func(ctx context.Context, row *JobRow, args any, out *outcome) error {
			return w.Work(ctx, &Job[T]{JobRow: row, Args: args.(T), out: out})
		},
	}
	for _, o := range opts {
		o(&e)
	}
	r.kinds[kind] = e
}

// Kinds lists the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	kinds := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// Validate checks that kind is registered and that args decode and validate as its
// args: what a worker would do first, done before anything is written.
func (r *Registry) Validate(kind string, args json.RawMessage) error {
	e, ok := r.kinds[kind]
	if !ok {
		return invalidf("unknown kind %q (known kinds: %v)", abbreviate(kind, 120), r.Kinds())
	}
	if _, err := e.decode(args); err != nil {
		return &ValidationError{Msg: fmt.Sprintf("invalid args for %s: %s", kind, abbreviate(err.Error(), 500))}
	}
	return nil
}

// decodeArgs decodes raw strictly (unknown fields are errors) and validates it.
func decodeArgs[T Args](raw json.RawMessage) (T, error) {
	var args T
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage(`{}`)
	}
	if trimmed := bytes.TrimSpace(raw); trimmed[0] != '{' {
		return args, fmt.Errorf("args must be a JSON object, got %s", abbreviate(string(trimmed), 40))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&args); err != nil {
		return args, err
	}
	if dec.More() {
		return args, fmt.Errorf("trailing data after the args object")
	}
	if v, ok := any(args).(Validator); ok {
		if err := v.Validate(); err != nil {
			return args, err
		}
	} else if v, ok := any(&args).(Validator); ok {
		if err := v.Validate(); err != nil {
			return args, err
		}
	}
	return args, nil
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
