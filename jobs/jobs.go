// Package jobs holds the iactq job kinds: one file per kind, each an args struct that
// validates itself and the function that runs it.
package jobs

import "github.com/iact/iactq/queue"

// Register adds every kind to r.
func Register(r *queue.Registry) {
	queue.Register(r, queue.WorkFunc[NoopArgs](workNoop))
}

// NewRegistry returns a registry with every kind.
func NewRegistry() *queue.Registry {
	r := queue.NewRegistry()
	Register(r)
	return r
}
