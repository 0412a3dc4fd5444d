// Package web serves iactq over HTTP: the dashboard (server-rendered pages with
// embedded assets, actions behind a token) and the Prometheus /metrics collector.
package web

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/iact/iactq/queue"
)

// Metrics is the Prometheus collector of iactq. It counts the engine's events (as a
// queue.Observer: set it in queue.Config.Observer of a worker) and, at each scrape,
// reads the queue's state from the database: jobs by state, the backlog by SLA class,
// the oldest job per class and the workers' heartbeats. Database reads are cached for
// a few seconds, so frequent scrapes cost little.
type Metrics struct {
	c        *queue.Client
	registry *prometheus.Registry

	claimed      *prometheus.CounterVec
	claimLatency *prometheus.HistogramVec
	waitLatency  *prometheus.HistogramVec
	runLatency   *prometheus.HistogramVec
	finished     *prometheus.CounterVec
	polls        *prometheus.CounterVec
	running      prometheus.Gauge
	started      prometheus.Gauge
	healthy      prometheus.Gauge

	jobs        *prometheus.Desc
	backlog     *prometheus.Desc
	oldestAge   *prometheus.Desc
	heartbeat   *prometheus.Desc
	workers     *prometheus.Desc
	scrapeError *prometheus.Desc
	unknownKind *prometheus.Desc
	unserved    *prometheus.Desc

	mu       sync.Mutex
	cachedAt time.Time
	cached   []prometheus.Metric
	cacheFor time.Duration
}

// NewMetrics returns the collector of c's queue, registered with the Go runtime and
// process collectors in a registry of its own.
func NewMetrics(c *queue.Client) *Metrics {
	latency := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400}
	m := &Metrics{
		c:        c,
		registry: prometheus.NewRegistry(),
		cacheFor: 5 * time.Second,
		claimed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iactq_jobs_claimed_total", Help: "Jobs claimed by this worker process, by queue.",
		}, []string{"queue"}),
		claimLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "iactq_claim_duration_seconds", Help: "Time one claim transaction took, by queue.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"queue"}),
		waitLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "iactq_job_wait_seconds", Help: "Time from a job's due time to the start of its attempt, by kind.",
			Buckets: latency,
		}, []string{"kind"}),
		runLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "iactq_job_run_seconds", Help: "Execution time of an attempt, by kind and outcome.",
			Buckets: latency,
		}, []string{"kind", "outcome"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iactq_jobs_finished_total", Help: "Attempts finished by this worker process, by kind, queue and recorded state (completed; retryable or discarded for failures; available when released by a shutdown), or why it was stopped from outside (cancelled by an operator; lost when this worker was declared dead).",
		}, []string{"kind", "queue", "outcome"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "iactq_polls_total", Help: "Looks for work by this worker process, by result (ok or error).",
		}, []string{"result"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "iactq_worker_running_jobs", Help: "Jobs running in this worker process.",
		}),
		started: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "iactq_worker_claiming", Help: "1 while this worker process claims jobs (after start, before the drain).",
		}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "iactq_worker_healthy", Help: "0 while this worker process cannot keep up: its completer has not recorded outcomes for longer than the heartbeat interval.",
		}),
		jobs: prometheus.NewDesc("iactq_jobs", "Jobs in the database by state and queue.",
			[]string{"state", "queue"}, nil),
		backlog: prometheus.NewDesc("iactq_backlog_jobs", "Available jobs by queue and SLA class (the queue depth; counted up to 100000 per kind and class).",
			[]string{"queue", "class"}, nil),
		oldestAge: prometheus.NewDesc("iactq_oldest_job_age_seconds", "Age (since first due) of the oldest available job, by queue and SLA class.",
			[]string{"queue", "class"}, nil),
		heartbeat: prometheus.NewDesc("iactq_worker_heartbeat_age_seconds", "Time since each registered worker process last heart-beat.",
			[]string{"worker_id", "host", "pid", "queues"}, nil),
		workers: prometheus.NewDesc("iactq_workers", "Registered worker processes.", nil, nil),
		unknownKind: prometheus.NewDesc("iactq_jobs_unknown_kind", "Available jobs whose kind no live worker runs, by queue and kind: they wait, and are discarded after unknown_kind_grace (counted up to 100000 per kind and class).",
			[]string{"queue", "kind"}, nil),
		unserved: prometheus.NewDesc("iactq_jobs_unserved_queue", "Available jobs in a queue no live worker serves, by queue (counted up to 100000 per kind and class).",
			[]string{"queue"}, nil),
		scrapeError: prometheus.NewDesc("iactq_scrape_error", "1 when the last read of the queue's state from the database failed.",
			nil, nil),
	}
	m.registry.MustRegister(m.claimed, m.claimLatency, m.waitLatency, m.runLatency, m.finished, m.polls, m.running, m.started, m.healthy, m,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Started implements queue.Observer.
func (m *Metrics) Started(int64) { m.started.Set(1); m.healthy.Set(1) }

// Stopped implements queue.Observer: an execution stopped by an operator's cancel or
// a lost registration, counted under its own outcome (cancelled, lost).
func (m *Metrics) Stopped(job *queue.JobRow, cause error, wait, run time.Duration) {
	outcome := queue.StopOutcome(cause)
	m.running.Dec()
	m.waitLatency.WithLabelValues(job.Kind).Observe(wait.Seconds())
	m.runLatency.WithLabelValues(job.Kind, outcome).Observe(run.Seconds())
	m.finished.WithLabelValues(job.Kind, job.Queue, outcome).Inc()
}

// Unhealthy implements queue.Observer.
func (m *Metrics) Unhealthy(error) { m.healthy.Set(0) }

// Healthy implements queue.Observer.
func (m *Metrics) Healthy() { m.healthy.Set(1) }

// Stopping implements queue.Observer.
func (m *Metrics) Stopping() { m.started.Set(0) }

// Polled implements queue.Observer.
func (m *Metrics) Polled(err error) {
	if err != nil {
		m.polls.WithLabelValues("error").Inc()
		return
	}
	m.polls.WithLabelValues("ok").Inc()
}

// Claimed implements queue.Observer.
func (m *Metrics) Claimed(q string, n int, took time.Duration) {
	m.claimed.WithLabelValues(q).Add(float64(n))
	m.claimLatency.WithLabelValues(q).Observe(took.Seconds())
	m.running.Add(float64(n))
}

// Finished implements queue.Observer.
func (m *Metrics) Finished(job *queue.JobRow, state queue.State, wait, run time.Duration) {
	m.running.Dec()
	m.waitLatency.WithLabelValues(job.Kind).Observe(wait.Seconds())
	m.runLatency.WithLabelValues(job.Kind, string(state)).Observe(run.Seconds())
	m.finished.WithLabelValues(job.Kind, job.Queue, string(state)).Inc()
}

// DiscardedUnknown implements queue.Observer: jobs of a kind no live worker runs,
// discarded without running, count as finished discarded.
func (m *Metrics) DiscardedUnknown(q, kind string, n int) {
	m.finished.WithLabelValues(kind, q, string(queue.StateDiscarded)).Add(float64(n))
}

// Describe implements prometheus.Collector for the database-backed metrics.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.jobs, m.backlog, m.oldestAge, m.heartbeat, m.workers, m.scrapeError, m.unknownKind, m.unserved} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the queue's state (or its cache).
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cached == nil || time.Since(m.cachedAt) > m.cacheFor {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m.cached = m.read(ctx)
		cancel()
		m.cachedAt = time.Now()
	}
	for _, x := range m.cached {
		ch <- x
	}
}

func (m *Metrics) read(ctx context.Context) []prometheus.Metric {
	var out []prometheus.Metric
	failed := 0.0
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	if counts, err := m.c.CountByState(ctx); err == nil {
		for _, sc := range counts {
			gauge(m.jobs, float64(sc.N), string(sc.State), sc.Queue)
		}
	} else {
		failed = 1
	}
	backlog, err := m.c.Backlog(ctx, nil, 100_000)
	if err == nil {
		type key struct{ q, c string }
		counts := map[key]int64{}
		oldest := map[key]time.Time{}
		for _, b := range backlog {
			for _, cl := range []queue.Class{queue.ClassOverdue, queue.ClassUrgent, queue.ClassNormal} {
				k := key{b.Queue, string(cl)}
				st := b.Classes[cl]
				counts[k] += st.Count
				if st.Count > 0 && (oldest[k].IsZero() || st.Oldest.Before(oldest[k])) {
					oldest[k] = st.Oldest
				}
			}
		}
		now := time.Now()
		for k, n := range counts {
			gauge(m.backlog, float64(n), k.q, k.c)
			age := 0.0
			if t := oldest[k]; !t.IsZero() {
				age = max(now.Sub(t).Seconds(), 0)
			}
			gauge(m.oldestAge, age, k.q, k.c)
		}
	} else {
		failed = 1
	}
	if fleet, ferr := m.c.Fleet(ctx); err == nil && ferr == nil {
		// Available jobs no live worker takes: of a kind none runs, in a queue none
		// serves.
		type key struct{ q, k string }
		kinds := map[key]int64{}
		queues := map[string]int64{}
		for _, b := range backlog {
			if !fleet.RunsKind(b.Kind) {
				kinds[key{b.Queue, b.Kind}] += b.Total()
			}
			if !fleet.ServesQueue(b.Queue) {
				queues[b.Queue] += b.Total()
			}
		}
		for k, n := range kinds {
			gauge(m.unknownKind, float64(n), k.q, k.k)
		}
		for q, n := range queues {
			gauge(m.unserved, float64(n), q)
		}
	} else if ferr != nil {
		failed = 1
	}
	if workers, err := m.c.Workers(ctx); err == nil {
		now := time.Now()
		for _, w := range workers {
			gauge(m.heartbeat, max(now.Sub(w.HeartbeatAt).Seconds(), 0), strconv.FormatInt(w.ID, 10), w.Host, strconv.Itoa(w.PID), w.Queues)
		}
		gauge(m.workers, float64(len(workers)))
	} else {
		failed = 1
	}
	gauge(m.scrapeError, failed)
	return out
}
