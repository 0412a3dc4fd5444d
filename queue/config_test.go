package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/iact/iactq/queue"
)

// NewClient copies the maps it is given: it writes nothing into them ("*" used to be
// added to the caller's SLA map), and the caller changing them while the client
// claims is no data race (run with -race: the claim planner reads the SLAs).
func TestNewClientCopiesConfigMaps(t *testing.T) {
	t.Parallel()
	slas := map[string]queue.SLA{"test": {Deadline: time.Hour, Urgent: time.Minute}}
	queues := map[string]int{"default": 2}
	b := setup(t, queue.Config{SLAs: slas, Queues: queues})
	if _, ok := slas["*"]; ok || len(slas) != 1 {
		t.Fatalf("NewClient wrote into the caller's SLA map: %v", slas)
	}
	if got := b.client.Config().SLAs["*"]; got != queue.DefaultSLAs()["*"] {
		t.Fatalf("client's default SLA = %v, want %v", got, queue.DefaultSLAs()["*"])
	}
	b.startWorker(t)
	ctx := context.Background()
	var ids []int64
	for i := range 20 {
		res, err := b.client.Insert(ctx, queue.InsertParams{Args: testArgs{N: i}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
		// The caller reuses its maps while the worker plans claims with its copy.
		slas["test"] = queue.SLA{Deadline: time.Duration(i+2) * time.Minute, Urgent: time.Minute}
		queues["default"] = i + 1
		delete(slas, "other")
	}
	for _, id := range ids {
		b.waitState(t, id, queue.StateCompleted)
	}
	if got := b.client.Config().SLAs["test"]; got.Deadline != time.Hour {
		t.Fatalf("the client's SLA changed with the caller's map: %v", got)
	}
}

// Every engine default has one source, DefaultConfig: a zero Config gets exactly it.
func TestZeroConfigGetsDefaultConfig(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Config{PollInterval: -1})
	got, want := b.client.Config(), queue.DefaultConfig()
	if got.PollInterval != want.PollInterval || got.HeartbeatInterval != want.HeartbeatInterval ||
		got.RescueAfter != want.RescueAfter || got.ShutdownGrace != want.ShutdownGrace ||
		got.JobTimeout != want.JobTimeout || got.MaxArgsBytes != want.MaxArgsBytes ||
		got.FinishedRetention != want.FinishedRetention || got.CompleterBatch != want.CompleterBatch ||
		got.Retry != want.Retry || got.UnknownKindGrace != want.UnknownKindGrace || len(got.SLAs) != len(want.SLAs) {
		t.Fatalf("defaults\n got %+v\nwant %+v", got, want)
	}
}
