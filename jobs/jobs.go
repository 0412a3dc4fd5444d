// Package jobs holds the iactq job kinds: one file per kind, each an args struct that
// validates itself and the function that runs it.
package jobs

import (
	"database/sql"
	"time"

	"github.com/rs/zerolog"

	"github.com/iact/iactq/queue"
)

// Deps is what the kinds need to run: the database, their config, a logger and a clock.
// The zero Deps is enough to register the kinds (to validate args and schedules).
type Deps struct {
	DB     *sql.DB
	Config Config
	Log    zerolog.Logger
	Now    func() time.Time
}

// Register adds every kind to r.
func Register(r *queue.Registry, d Deps) {
	if d.Now == nil {
		d.Now = time.Now
	}
	queue.Register(r, queue.WorkFunc[NoopArgs](workNoop))
	registerReports(r, d)
	registerMaintenance(r, d)
	registerDeploys(r, d)
}

// NewRegistry returns a registry with every kind.
func NewRegistry(d Deps) *queue.Registry {
	r := queue.NewRegistry()
	Register(r, d)
	return r
}
