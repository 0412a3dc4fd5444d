package jobs

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/iact/iactq/jobs/internal/jobsdb"
)

// DemoOptions tune `iactq demo load`.
type DemoOptions struct {
	// Days is how many whole days before today to fill; today is filled up to Now.
	// Default 14.
	Days int
	// Seed makes the data: the same seed gives the same calls. Default 1.
	Seed uint64
	// CallsPerDay is the volume of an ordinary weekday (Tuesday); Mondays are busier,
	// weekends much quieter. Default 3000.
	CallsPerDay int
	// Sessions is how many Django sessions to load, about 40% of them expired.
	// Default 5000; -1 loads none.
	Sessions int
	// Now is the end of the data. Default time.Now().
	Now time.Time
	// Location is the call centre's clock, for opening hours. Default UTC.
	Location *time.Location
	// Progress, when set, receives a line per day loaded.
	Progress io.Writer
}

// DemoResult says what LoadDemo wrote.
type DemoResult struct {
	From, To        time.Time
	Days            int
	Calls, Events   int
	Replaced        int64 // demo calls of the same days deleted first
	Sessions        int
	ExpiredSessions int
}

// MaxDemoDays bounds --days.
const MaxDemoDays = 400

// LoadDemo writes synthetic IVR calls (with their node events) for the days before
// now, and Django sessions. Demo calls are the ones whose call_ref starts with
// "demo-"; each day is replaced in its own transaction, so running it again (with any
// seed) leaves one set of demo calls per day, and demo sessions (keys starting with
// "demo") are replaced as a whole. Real calls and sessions are never touched.
func LoadDemo(ctx context.Context, db *sql.DB, o DemoOptions) (DemoResult, error) {
	if o.Days == 0 {
		o.Days = 14
	}
	if o.Days < 0 || o.Days > MaxDemoDays {
		return DemoResult{}, fmt.Errorf("days %d is out of range 1..%d", o.Days, MaxDemoDays)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.CallsPerDay == 0 {
		o.CallsPerDay = 3000
	}
	if o.CallsPerDay < 0 || o.CallsPerDay > 1_000_000 {
		return DemoResult{}, fmt.Errorf("calls per day %d is out of range 1..1000000", o.CallsPerDay)
	}
	if o.Sessions == 0 {
		o.Sessions = 5000
	}
	if o.Sessions > 10_000_000 {
		return DemoResult{}, fmt.Errorf("sessions %d is out of range 0..10000000", o.Sessions)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC().Truncate(time.Microsecond)
	if o.Location == nil {
		o.Location = time.UTC
	}
	q := jobsdb.New(db)
	local := o.Now.In(o.Location)
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, o.Location)
	res := DemoResult{From: today.AddDate(0, 0, -o.Days).UTC(), To: o.Now, Days: o.Days + 1}
	callers := newCallerPool(o.Seed, 20000)
	for i := o.Days; i >= 0; i-- {
		day := today.AddDate(0, 0, -i)
		calls := generateDay(o.Seed, day, o.CallsPerDay, callers)
		// Today stops at now: only calls over by then.
		kept := calls[:0]
		for _, c := range calls {
			if !c.ended.After(o.Now) {
				kept = append(kept, c)
			}
		}
		replaced, events, err := replaceDemoDay(ctx, db, q, day, kept)
		if err != nil {
			return res, fmt.Errorf("demo day %s: %w", day.Format(time.DateOnly), err)
		}
		res.Calls += len(kept)
		res.Events += events
		res.Replaced += replaced
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "demo: %s %s: %d calls (day %d of %d)\n", day.Format(time.DateOnly), day.Weekday().String()[:3], len(kept), o.Days-i+1, o.Days+1)
		}
	}
	if o.Sessions > 0 {
		n, expired, err := replaceDemoSessions(ctx, db, q, o.Seed, o.Sessions, o.Now)
		if err != nil {
			return res, fmt.Errorf("demo sessions: %w", err)
		}
		res.Sessions, res.ExpiredSessions = n, expired
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "demo: %d Django sessions (%d expired)\n", n, expired)
		}
	}
	return res, nil
}

// demoCall is one synthetic call with its node events.
type demoCall struct {
	ref, flow, caller   string
	started, ended      time.Time
	answered            time.Time // zero: never
	wait, handle        int
	outcome             string
	agentQueue, agentID string
	events              []demoEvent
}

type demoEvent struct {
	node    string
	entered time.Time
	result  string
}

// Arrival weights per hour of an ordinary weekday (busy 9-17, peaks at 11 and 14).
var weekdayHours = [24]float64{0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.6, 2, 5.5, 8.5, 9.5, 10, 7, 7.5, 9.5, 9, 8, 5.5, 3, 1.8, 1.2, 0.9, 0.6, 0.4}

// Agent occupancy per hour of a weekday: staffing lags the peaks, so waits (and
// abandonment) grow at 11 and 14.
var weekdayLoad = [24]float64{0.55, 0.55, 0.55, 0.55, 0.55, 0.55, 0.6, 0.65, 0.75, 0.82, 0.86, 0.9, 0.72, 0.78, 0.88, 0.84, 0.8, 0.75, 0.65, 0.65, 0.62, 0.6, 0.58, 0.55}

// Volume of each weekday against an ordinary one.
var weekdayVolume = map[time.Weekday]float64{
	time.Monday: 1.15, time.Tuesday: 1, time.Wednesday: 0.97, time.Thursday: 0.95,
	time.Friday: 0.9, time.Saturday: 0.4, time.Sunday: 0.25,
}

// generateDay makes the calls of day (midnight in the call centre's zone),
// deterministically from seed and the date.
func generateDay(seed uint64, day time.Time, perDay int, callers *callerPool) []demoCall {
	date := uint64(day.Year()*10000 + int(day.Month())*100 + day.Day())
	rng := rand.New(rand.NewPCG(seed, date))
	weekend := day.Weekday() == time.Saturday || day.Weekday() == time.Sunday
	weights := weekdayHours
	if weekend {
		for h := range weights {
			weights[h] = math.Pow(weights[h], 0.7) // flatter
		}
	}
	var sum float64
	for _, w := range weights {
		sum += w
	}
	volume := float64(perDay) * weekdayVolume[day.Weekday()] * (1 + 0.05*rng.NormFloat64())
	var starts []time.Time
	hour := day
	for h := 0; h < 24; h++ {
		// Local hours: a day when clocks change has 23 or 25 hours of calls.
		next := time.Date(day.Year(), day.Month(), day.Day(), h+1, 0, 0, 0, day.Location())
		span := next.Sub(hour)
		n := poisson(rng, volume*weights[h]/sum)
		for range n {
			starts = append(starts, hour.Add(time.Duration(rng.Int64N(int64(span/time.Microsecond)))*time.Microsecond))
		}
		hour = next
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	calls := make([]demoCall, len(starts))
	for i, st := range starts {
		load := weekdayLoad[st.In(day.Location()).Hour()]
		if weekend {
			load = 0.6 + 0.1*load
		}
		calls[i] = simulateCall(rng, st, load, callers)
		calls[i].ref = fmt.Sprintf("demo-%s-%06d", day.Format("20060102"), i+1)
	}
	return calls
}

// poisson draws a Poisson count of mean lambda (normal approximation when large).
func poisson(rng *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 50 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// simulateCall walks a call through its flow. load is the agents' occupancy, which
// sets the mean wait (a queue's ρ/(1-ρ)); callers' patience is exponential with a
// mean of 5 minutes, so the longer the wait, the likelier the caller hangs up.
func simulateCall(rng *rand.Rand, start time.Time, load float64, callers *callerPool) demoCall {
	c := demoCall{started: start, caller: callers.pick(rng)}
	t := start
	secs := func(lo, hi float64) time.Duration {
		return time.Duration((lo + rng.Float64()*(hi-lo)) * float64(time.Second))
	}
	// step enters node, spends d there and leaves with result.
	step := func(node string, d time.Duration, result string) {
		c.events = append(c.events, demoEvent{node: node, entered: t, result: result})
		t = t.Add(d)
	}
	// ivr enters a menu node: most callers go on, a few hang up or time out there.
	ivr := func(node string, lo, hi, hangup, timeout float64) bool {
		d := secs(lo, hi)
		switch r := rng.Float64(); {
		case r < hangup:
			step(node, d/2, "hangup")
		case r < hangup+timeout:
			step(node, d, "timeout")
		default:
			step(node, d, "next")
			return true
		}
		c.outcome = "dropped"
		c.ended = t
		return false
	}
	var queue string
	switch r := rng.Float64(); {
	case r < 0.7:
		c.flow = "main"
		if !ivr("welcome", 6, 10, 0.01, 0) || !ivr("language", 4, 8, 0.015, 0.005) {
			return c
		}
		for rng.Float64() < 0.08 { // "press 9 to hear the options again"
			if !ivr("menu", 8, 20, 0, 0) {
				return c
			}
		}
		if !ivr("menu", 8, 20, 0.04, 0.03) {
			return c
		}
		switch r := rng.Float64(); {
		case r < 0.45:
			if !ivr("billing", 10, 25, 0.01, 0) {
				return c
			}
			if rng.Float64() < 0.4 {
				step("payment_selfservice", secs(60, 180), "completed")
				c.outcome, c.ended = "self_served", t
				return c
			}
			queue = "billing"
		case r < 0.8:
			if !ivr("support", 10, 30, 0.01, 0) {
				return c
			}
			queue = "support"
		default:
			if !ivr("sales", 8, 15, 0.005, 0) {
				return c
			}
			queue = "sales"
		}
	case r < 0.9:
		c.flow = "support"
		if !ivr("welcome", 5, 8, 0.01, 0) || !ivr("authenticate", 15, 40, 0.03, 0.02) {
			return c
		}
		if rng.Float64() < 0.02 {
			step("authenticate_retry", secs(10, 20), "error")
			c.outcome, c.ended = "dropped", t
			return c
		}
		if !ivr("troubleshoot", 20, 60, 0.02, 0) {
			return c
		}
		if rng.Float64() < 0.25 {
			step("known_issue_message", secs(30, 60), "completed")
			c.outcome, c.ended = "self_served", t
			return c
		}
		queue = "support"
	default:
		c.flow = "sales"
		if !ivr("welcome", 5, 8, 0.01, 0) || !ivr("offers", 15, 30, 0.03, 0) {
			return c
		}
		queue = "sales"
	}
	// The agent queue.
	c.agentQueue = queue
	meanWait := 8 * load / (1 - load)
	wait := rng.ExpFloat64() * meanWait
	patience := rng.ExpFloat64() * 300
	queued := t
	if patience < wait {
		step("agent", time.Duration(patience*float64(time.Second)), "hangup")
		c.outcome, c.wait, c.ended = "abandoned", int(math.Round(patience)), t
		return c
	}
	meanHandle := map[string]float64{"billing": 200, "support": 380, "sales": 300}[queue]
	handle := meanHandle * math.Exp(0.5*rng.NormFloat64()-0.125)
	c.answered = queued.Add(time.Duration(wait * float64(time.Second)))
	step("agent", time.Duration((wait+handle)*float64(time.Second)), "completed")
	c.outcome, c.wait, c.handle, c.ended = "answered", int(math.Round(wait)), int(math.Round(handle)), t
	c.agentID = fmt.Sprintf("agent-%03d", 1+rng.IntN(60))
	return c
}

// callerPool is the demo's callers: repeat callers are common.
type callerPool struct{ hashes []string }

func newCallerPool(seed uint64, n int) *callerPool {
	rng := rand.New(rand.NewPCG(seed, 0xca11e5))
	p := &callerPool{hashes: make([]string, n)}
	for i := range p.hashes {
		sum := sha256.Sum256(fmt.Appendf(nil, "+3519%08d", rng.IntN(100_000_000)))
		p.hashes[i] = hex.EncodeToString(sum[:])
	}
	return p
}

func (p *callerPool) pick(rng *rand.Rand) string {
	u := rng.Float64()
	return p.hashes[int(u*u*float64(len(p.hashes)))]
}

// replaceDemoDay deletes the demo calls of day and writes calls, in one transaction.
func replaceDemoDay(ctx context.Context, db *sql.DB, q *jobsdb.Queries, day time.Time, calls []demoCall) (replaced int64, events int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	qtx := q.WithTx(tx)
	if replaced, err = qtx.DemoCallsDelete(ctx, "demo-"+day.Format("20060102")+"-%"); err != nil {
		return 0, 0, fmt.Errorf("delete old demo calls: %w", err)
	}
	const batch = 500
	for lo := 0; lo < len(calls); lo += batch {
		part := calls[lo:min(lo+batch, len(calls))]
		rows := make([][]any, len(part))
		refs := make([]string, len(part))
		for i, c := range part {
			refs[i] = c.ref
			rows[i] = []any{c.ref, c.flow, c.caller, c.started.UTC(), nullTime(c.answered), c.ended.UTC(),
				c.wait, c.handle, c.outcome, nullString(c.agentQueue), nullString(c.agentID)}
		}
		if err = insertRows(ctx, tx, "ivr_calls", callColumns, rows); err != nil {
			return 0, 0, err
		}
		ids, err := qtx.CallIDsByRef(ctx, refs)
		if err != nil {
			return 0, 0, fmt.Errorf("read new call ids: %w", err)
		}
		idOf := make(map[string]int64, len(ids))
		for _, r := range ids {
			idOf[r.CallRef] = r.ID
		}
		var evRows [][]any
		for _, c := range part {
			id, ok := idOf[c.ref]
			if !ok {
				return 0, 0, fmt.Errorf("call %s not found after insert", c.ref)
			}
			for k, e := range c.events {
				evRows = append(evRows, []any{id, k + 1, e.node, e.entered.UTC(), e.result})
			}
		}
		for elo := 0; elo < len(evRows); elo += 2 * batch {
			if err = insertRows(ctx, tx, "ivr_call_events", eventColumns, evRows[elo:min(elo+2*batch, len(evRows))]); err != nil {
				return 0, 0, err
			}
		}
		events += len(evRows)
	}
	if err = tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("commit: %w", err)
	}
	return replaced, events, nil
}

var (
	callColumns    = []string{"call_ref", "flow_id", "caller_hash", "started_at", "answered_at", "ended_at", "wait_seconds", "handle_seconds", "outcome", "agent_queue", "agent_id"}
	eventColumns   = []string{"call_id", "seq", "node", "entered_at", "result"}
	sessionColumns = []string{"session_key", "session_data", "expire_date"}
)

// replaceDemoSessions replaces the demo Django sessions (keys "demo" + 28 letters and
// digits, like Django's 32-character keys) with n new ones, 40% of them expired.
func replaceDemoSessions(ctx context.Context, db *sql.DB, q *jobsdb.Queries, seed uint64, n int, now time.Time) (total, expired int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err = q.WithTx(tx).DemoSessionsDelete(ctx); err != nil {
		return 0, 0, fmt.Errorf("delete old demo sessions: %w", err)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5e55))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	const batch = 1000
	rows := make([][]any, 0, batch)
	for i := 0; i < n; i++ {
		var key strings.Builder
		key.WriteString("demo")
		for range 28 {
			key.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		data := base64.StdEncoding.EncodeToString(fmt.Appendf(nil,
			`{"_auth_user_id":"%d","_auth_user_backend":"django.contrib.auth.backends.ModelBackend","_auth_user_hash":"%016x"}`,
			1+rng.IntN(400), rng.Uint64()))
		var expire time.Time
		if rng.Float64() < 0.4 {
			expire = now.Add(-time.Duration(1+rng.Int64N(30*24*3600)) * time.Second)
			expired++
		} else {
			expire = now.Add(time.Duration(3600+rng.Int64N(14*24*3600)) * time.Second)
		}
		// Django with USE_TZ keeps expire_date, a DATETIME, in UTC.
		rows = append(rows, []any{key.String(), data, expire.UTC()})
		if len(rows) == batch || i == n-1 {
			if err = insertRows(ctx, tx, "django_session", sessionColumns, rows); err != nil {
				return 0, 0, err
			}
			rows = rows[:0]
		}
	}
	if err = tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("commit: %w", err)
	}
	return n, expired, nil
}

// insertRows is the one place the demo builds SQL text: a multi-row INSERT of rows
// into columns of table, every value a placeholder. sqlc cannot express a variable
// number of VALUES tuples, and row-by-row inserts would make loading two weeks of
// calls take minutes. table and columns are constants of this file, never input.
func insertRows(ctx context.Context, tx *sql.Tx, table string, columns []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", len(columns)), ",") + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(columns, ", ") + ") VALUES ")
	args := make([]any, 0, len(rows)*len(columns))
	for i, r := range rows {
		if len(r) != len(columns) {
			return errors.New("insertRows: row and columns differ in length")
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tuple)
		args = append(args, r...)
	}
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", len(rows), table, err)
	}
	return nil
}

func nullTime(t time.Time) sql.NullTime {
	return sql.NullTime{Time: t.UTC(), Valid: !t.IsZero()}
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
