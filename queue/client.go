package queue

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue/internal/dbsqlc"
)

// Client enqueues jobs and, with Work, runs them.
type Client struct {
	store     *store
	registry  *Registry
	cfg       Config
	schedules map[string]Schedule
	log       zerolog.Logger

	testWorkerID int64 // the worker row of ClaimOnce, in tests

	// What the leadership of a running Work does (leader.go), for Leading and tests.
	leading       atomic.Bool
	rings         atomic.Int64 // doorbell rings as leader
	insertRings   atomic.Int64 // inserts acted on from their row images, without a read of the heads: rung for, or taken
	taken         atomic.Int64 // new work from an insert's row images the leader's process took itself, ringing no one
	followsBinlog atomic.Bool  // this client's watcher follows the binary log now
	choreRounds   atomic.Int64 // rounds of the leader's chores
	heard         atomic.Int64 // rings this client's waiter heard
	looked        atomic.Int64 // rings heard that set this client looking for work (its group was named)
	bellWaits     atomic.Int64 // waits on the doorbell this client's waiter began
	seatWaits     atomic.Int64 // waits for a seat on the doorbell this client's waiter began
}

// Leading tells whether this client's Work is the fleet's leader now.
func (c *Client) Leading() bool { return c.leading.Load() }

// NewClient returns a client over db (see OpenDB) running the kinds in registry.
func NewClient(db *sql.DB, registry *Registry, cfg Config, log zerolog.Logger) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	c := &Client{
		store:     newStore(db),
		registry:  registry,
		cfg:       cfg,
		schedules: map[string]Schedule{},
		log:       log,
	}
	for _, s := range cfg.Schedules {
		if s.Queue == "" {
			s.Queue = "default"
		}
		if len(s.Args) == 0 {
			s.Args = []byte("{}")
		}
		if err := registry.Validate(s.Kind, s.Args); err != nil {
			return nil, fmt.Errorf("invalid config: schedule %s: %w", s.Name, err)
		}
		c.schedules[s.Name] = s
	}
	return c, nil
}

// Config returns the client's configuration, defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// Registry returns the client's kinds.
func (c *Client) Registry() *Registry { return c.registry }

// SyncSLAs writes the configured SLAs to iactq_kind_slas, which the iactq_priorities
// view reads.
func (c *Client) SyncSLAs(ctx context.Context) error {
	return c.store.inTx(ctx, nil, func(tx dbTx) error {
		for kind, sla := range c.cfg.SLAs {
			err := tx.KindSLAUpsert(ctx, dbsqlc.KindSLAUpsertParams{
				Kind:          kind,
				SlaSeconds:    int32(sla.Deadline / time.Second),
				UrgentSeconds: int32(sla.Urgent / time.Second),
			})
			if err != nil {
				return fmt.Errorf("save SLA of %s: %w", kind, err)
			}
		}
		return nil
	})
}

// now is the client's clock, in UTC and truncated to what the database stores.
func (c *Client) now() time.Time { return c.cfg.Now().UTC().Truncate(time.Microsecond) }
