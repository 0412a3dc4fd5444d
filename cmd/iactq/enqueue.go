package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/iact/iactq/jobs"
	"github.com/iact/iactq/queue"
)

type enqueueFlags struct {
	args        string
	queue       string
	at          string
	in          string
	uniqueKey   string
	maxAttempts int
	requestedBy string
	batch       bool
	force       bool
}

func (a *app) enqueueCmd() *cobra.Command {
	var f enqueueFlags
	cmd := &cobra.Command{
		Use:   "enqueue KIND [--args JSON] [--queue Q] [--at TIME | --in DURATION] | --batch",
		Short: "Add a job to the queue and print its id",
		Long: `enqueue adds one job of KIND and prints its id alone on stdout, so scripts can
capture it. The kind and its args are validated first, as the worker will: an unknown
kind, args that are not a JSON object the kind accepts, or a bad option exit with
status 2 and write nothing.

--at runs the job no sooner than TIME: RFC 3339 ("2026-11-02T08:00:00Z",
"2026-11-02T09:00:00+01:00") or local time ("2026-11-02 08:00[:05]"). --in runs it
after a delay ("90s", "15m", "2h"). Without either it is due now.

--unique-key K creates no second live job with the same key: when one is waiting or
running, its id is printed instead (with a note on stderr) and the exit status is 0.

--requested-by USER is told of the outcome by an internal message ('iactq messages').

--queue Q must be a queue the config lists or a live worker serves: a job in a queue
no worker takes would wait forever, so enqueue refuses it (status 2, naming the
known queues) unless --force is given.

--batch reads jobs from stdin instead, one JSON object per line (blank lines are
skipped) with the fields kind, args, queue, at, in, unique_key, max_attempts and
requested_by. Every line is validated before any job is written; a bad line exits
with status 2 naming its line number and writes nothing. The jobs are then inserted
in one transaction, and their ids are printed one per line, in input order.`,
		Example: `  iactq enqueue noop
  iactq enqueue dashboard_metrics --queue reports --requested-by analyst \
      --args '{"period": "2026-11-01/2026-11-02"}'
  iactq enqueue noop --in 15m --unique-key nightly-check
  id=$(iactq enqueue noop --at '2026-11-02 08:00')
  printf '%s\n' '{"kind":"noop"}' '{"kind":"noop","args":{"sleep_ms":50},"in":"1m"}' | iactq enqueue --batch`,
		RunE: a.action(func(cmd *cobra.Command, args []string) error {
			if f.batch {
				return a.enqueueBatch(cmd, args, &f)
			}
			return a.enqueueOne(cmd, args, &f)
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.args, "args", "{}", "the job's args, a JSON object")
	fl.StringVar(&f.queue, "queue", "default", "queue to put the job in")
	fl.StringVar(&f.at, "at", "", "run no sooner than TIME (RFC 3339, or local \"2006-01-02 15:04[:05]\")")
	fl.StringVar(&f.in, "in", "", "run after DURATION from now (e.g. 90s, 15m, 2h)")
	fl.StringVar(&f.uniqueKey, "unique-key", "", "create no second live job with this key; print the existing one's id")
	fl.IntVar(&f.maxAttempts, "max-attempts", 25, "attempts before the job is discarded (1..1000)")
	fl.StringVar(&f.requestedBy, "requested-by", "", "user told of the outcome by internal message")
	fl.BoolVar(&f.batch, "batch", false, "read jobs as JSON lines from stdin and insert them in one transaction")
	fl.BoolVar(&f.force, "force", false, "enqueue into a queue that neither the config lists nor a live worker serves")
	return cmd
}

func (a *app) enqueueOne(cmd *cobra.Command, args []string, f *enqueueFlags) error {
	if len(args) != 1 {
		return usagef("enqueue takes one KIND (or --batch), got %d arguments", len(args))
	}
	if f.at != "" && f.in != "" {
		return usagef("--at and --in cannot be used together")
	}
	if cmd.Flags().Changed("max-attempts") && (f.maxAttempts < 1 || f.maxAttempts > 1000) {
		return usagef("--max-attempts %d is out of range 1..1000", f.maxAttempts)
	}
	at, err := scheduledAt(f.at, f.in, time.Now())
	if err != nil {
		return err
	}
	p := queue.InsertParams{
		Kind:        args[0],
		Args:        json.RawMessage(f.args),
		Queue:       f.queue,
		ScheduledAt: at,
		UniqueKey:   f.uniqueKey,
		MaxAttempts: f.maxAttempts,
		RequestedBy: f.requestedBy,
	}
	res, err := a.insert(cmd.Context(), []queue.InsertParams{p}, nil, f.force)
	if err != nil {
		return err
	}
	a.printInserted(cmd.OutOrStdout(), []queue.InsertParams{p}, res)
	return nil
}

// batchLine is one line of `enqueue --batch`.
type batchLine struct {
	Kind        string          `json:"kind"`
	Args        json.RawMessage `json:"args"`
	Queue       string          `json:"queue"`
	At          string          `json:"at"`
	In          string          `json:"in"`
	UniqueKey   string          `json:"unique_key"`
	MaxAttempts *int            `json:"max_attempts"`
	RequestedBy string          `json:"requested_by"`
}

// maxBatchLine is the longest line --batch reads: args up to the 1 MiB default limit,
// escaped, and the other fields.
const maxBatchLine = 2 << 20

func (a *app) enqueueBatch(cmd *cobra.Command, args []string, f *enqueueFlags) error {
	if len(args) > 0 {
		return usagef("--batch reads the kind from each line of stdin; drop the argument %q", args[0])
	}
	var other []string
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if fl.Name != "batch" && fl.Name != "force" && cmd.LocalFlags().Lookup(fl.Name) != nil {
			other = append(other, "--"+fl.Name)
		}
	})
	if len(other) > 0 {
		return usagef("--batch reads every field from stdin; it cannot be combined with %s", strings.Join(other, ", "))
	}
	now := time.Now()
	var ps []queue.InsertParams
	var lineNos []int
	err := readLines(cmd.InOrStdin(), maxBatchLine, func(n int, line []byte) error {
		p, err := parseBatchLine(line, now)
		if err != nil {
			return usagef("line %d: %v", n, err)
		}
		ps = append(ps, p)
		lineNos = append(lineNos, n)
		return nil
	})
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return nil
	}
	res, err := a.insert(cmd.Context(), ps, lineNos, f.force)
	if err != nil {
		return err
	}
	a.printInserted(cmd.OutOrStdout(), ps, res)
	return nil
}

func parseBatchLine(line []byte, now time.Time) (queue.InsertParams, error) {
	if !utf8.Valid(line) {
		return queue.InsertParams{}, errors.New("the line is not valid UTF-8")
	}
	var l batchLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return queue.InsertParams{}, fmt.Errorf("not a JSON object of a job: %v", err)
	}
	if dec.More() {
		return queue.InsertParams{}, errors.New("more than one JSON value on the line")
	}
	if l.Kind == "" {
		return queue.InsertParams{}, errors.New(`"kind" is missing`)
	}
	if l.At != "" && l.In != "" {
		return queue.InsertParams{}, errors.New(`"at" and "in" cannot be used together`)
	}
	at, err := scheduledAt(l.At, l.In, now)
	if err != nil {
		return queue.InsertParams{}, err
	}
	p := queue.InsertParams{Kind: l.Kind, Queue: l.Queue, ScheduledAt: at, UniqueKey: l.UniqueKey, RequestedBy: l.RequestedBy}
	if len(l.Args) > 0 && string(l.Args) != "null" {
		p.Args = l.Args
	}
	if l.MaxAttempts != nil {
		if *l.MaxAttempts < 1 || *l.MaxAttempts > 1000 {
			return queue.InsertParams{}, fmt.Errorf("max_attempts %d is out of range 1..1000", *l.MaxAttempts)
		}
		p.MaxAttempts = *l.MaxAttempts
	}
	return p, nil
}

// readLines calls fn with each non-blank line of r and its 1-based number. A line
// longer than limit is an error.
func readLines(r io.Reader, limit int, fn func(n int, line []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		var line []byte
		var readErr error
		for {
			chunk, err := br.ReadSlice('\n')
			line = append(line, chunk...)
			if len(line) > limit+2 {
				return usagef("line %d is longer than %d bytes", n, limit)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			readErr = err
			break
		}
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			return fmt.Errorf("read stdin: %w", readErr)
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			if len(trimmed) > limit {
				return usagef("line %d is longer than %d bytes", n, limit)
			}
			if err := fn(n, trimmed); err != nil {
				return err
			}
		}
		if readErr != nil {
			return nil
		}
	}
}

// scheduledAt turns --at or --in into the time the job is due; zero means now.
func scheduledAt(at, in string, now time.Time) (time.Time, error) {
	switch {
	case at != "":
		return parseAt(at)
	case in != "":
		d, err := time.ParseDuration(in)
		if err != nil || d < 0 {
			return time.Time{}, usagef("invalid delay %q: use a duration such as 90s, 15m or 2h", in)
		}
		return now.Add(d), nil
	}
	return time.Time{}, nil
}

// parseAt parses an RFC 3339 time, or a local one written "2006-01-02 15:04[:05]".
func parseAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef(`invalid time %q: use RFC 3339 ("2026-11-02T08:00:00Z") or local time ("2026-11-02 08:00[:05]")`, s)
}

// insert validates every job, then inserts them all in one transaction. lineNos, when
// set, names the input line of each job in errors. Unless force is set, every job's
// queue must be one the config lists or a live worker serves.
func (a *app) insert(ctx context.Context, ps []queue.InsertParams, lineNos []int, force bool) ([]queue.InsertResult, error) {
	_, cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	// The client is made before the database is reached, so that bad input is
	// reported (exit 2) whether or not the database is up.
	db, err := a.openLazy()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	c, err := a.newClient(db, cfg)
	if err != nil {
		return nil, err
	}
	for i, p := range ps {
		if err := c.ValidateInsert(p); err != nil {
			if lineNos != nil {
				return nil, usagef("line %d: %v", lineNos[i], err)
			}
			return nil, err
		}
	}
	if err := a.ping(ctx, db); err != nil {
		return nil, err
	}
	if !force {
		known, err := knownQueues(ctx, c, false)
		if err != nil {
			return nil, err
		}
		for i, p := range ps {
			q := p.Queue
			if q == "" {
				q = "default"
			}
			if !slices.Contains(known, q) {
				err := usagef("queue %q is not known: the config does not list it and no live worker serves it, so its jobs would wait (known queues: %s); --force enqueues anyway", q, strings.Join(known, ", "))
				if lineNos != nil {
					return nil, usagef("line %d: %v", lineNos[i], err)
				}
				return nil, err
			}
		}
	}
	if err := jobs.CheckFlows(ctx, db, ps...); errors.Is(err, jobs.ErrUnknownFlow) {
		return nil, usagef("%v", err)
	} else if err != nil {
		return nil, err
	}
	res, err := c.InsertMany(ctx, ps)
	if err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	return res, nil
}

// printInserted prints one id per job, and a note on stderr for each duplicate.
func (a *app) printInserted(out io.Writer, ps []queue.InsertParams, res []queue.InsertResult) {
	var b strings.Builder
	for i, r := range res {
		fmt.Fprintln(&b, r.ID)
		if r.Duplicate {
			fmt.Fprintf(a.stderr, "duplicate: live job %d already has unique key %s\n", r.ID, ps[i].UniqueKey)
		}
	}
	io.WriteString(out, b.String())
}

// knownQueues lists, sorted, the queues the config lists and the live workers serve,
// and with existing also those that have jobs or were paused.
func knownQueues(ctx context.Context, c *queue.Client, existing bool) ([]string, error) {
	set := map[string]bool{}
	for q := range c.Config().Queues {
		set[q] = true
	}
	fleet, err := c.Fleet(ctx)
	if err != nil {
		return nil, err
	}
	for q := range fleet.Queues {
		set[q] = true
	}
	if existing {
		qs, err := c.ListQueues(ctx)
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			set[q.Name] = true
		}
	}
	out := make([]string, 0, len(set))
	for q := range set {
		out = append(out, q)
	}
	slices.Sort(out)
	return out, nil
}
