-- Read-only queries for the dashboard, /metrics, systemd's STATUS line and
-- `iactq priorities --explain`, plus the SLA rollup and the dashboard's audit trail.
-- Every one reads a bounded range of an index: they run every few seconds against
-- tables that may hold millions of finished jobs.

-- StatsHeads is, per queue and kind, the oldest available job: a loose index scan of
-- iactq_jobs_claim (one dive per queue and kind, whatever the backlog). Grouping by
-- the whole index prefix is what lets the server skip through the index.
-- name: StatsHeads :many
SELECT queue, kind, CAST(MIN(scheduled_at) AS DATETIME(6)) AS oldest
FROM iactq_jobs FORCE INDEX (iactq_jobs_claim)
WHERE state = 'available'
GROUP BY state, queue, kind;

-- StatsClassRange counts the available jobs of one queue and kind first due in
-- [from_at, to_at) — one SLA class at some instant — up to max_count, and finds the
-- oldest of them: one range of iactq_jobs_claim, read no further than max_count rows.
-- name: StatsClassRange :one
SELECT COUNT(*) AS n,
  COALESCE(CAST(MIN(t.scheduled_at) AS DATETIME(6)), CAST('1970-01-01 00:00:00' AS DATETIME(6))) AS oldest FROM (
  SELECT scheduled_at FROM iactq_jobs FORCE INDEX (iactq_jobs_claim)
  WHERE state = 'available' AND queue = sqlc.arg(queue) AND kind = sqlc.arg(kind)
    AND scheduled_at >= sqlc.arg(from_at) AND scheduled_at < sqlc.arg(to_at)
  ORDER BY scheduled_at
  LIMIT ?
) t;

-- name: StatsCountByStateQueue :many
SELECT state, queue, COUNT(*) AS n FROM iactq_jobs GROUP BY state, queue;

-- name: StatsPriorityOf :one
SELECT * FROM iactq_priorities WHERE id = ?;

-- StatsAhead counts, by class, the available jobs of a queue that workers claim
-- before the given one: every job of a more urgent class, and the older ones of its
-- own class (claim order within a class is first-due time, then id).
-- name: StatsAhead :many
SELECT priority_class, COUNT(*) AS n FROM iactq_priorities
WHERE queue = sqlc.arg(queue) AND state = 'available' AND id <> sqlc.arg(id)
  AND (FIELD(priority_class, 'OVERDUE', 'URGENT', 'NORMAL') < FIELD(sqlc.arg(class), 'OVERDUE', 'URGENT', 'NORMAL')
       OR (priority_class = sqlc.arg(class)
           AND (scheduled_at < sqlc.arg(scheduled_at) OR (scheduled_at = sqlc.arg(scheduled_at) AND id < sqlc.arg(id)))))
GROUP BY priority_class;

-- StatsRecentFailed lists discarded jobs and jobs waiting to retry, most recent first.
-- name: StatsRecentFailed :many
SELECT * FROM iactq_jobs
WHERE state IN ('discarded', 'retryable')
ORDER BY COALESCE(finished_at, attempted_at) DESC, id DESC
LIMIT ?;

-- name: AuditInsert :exec
INSERT INTO iactq_audit (actor, action, target, ok, detail, remote_addr) VALUES (?, ?, ?, ?, ?, ?);

-- name: AuditList :many
SELECT * FROM iactq_audit ORDER BY id DESC LIMIT ?;

-- RollupLock takes the rollup's single state row; SKIP LOCKED makes every other
-- worker calling Rollup at the same moment return at once with nothing to do.
-- name: RollupLock :many
SELECT rolled_until FROM iactq_sla_rollup_state WHERE id = 1 FOR UPDATE SKIP LOCKED;

-- name: RollupSetUntil :exec
UPDATE iactq_sla_rollup_state SET rolled_until = ? WHERE id = 1;

-- RollupEnqueued counts jobs created during [from_at, to_at) per kind and the class
-- they were in when created (NORMAL unless enqueued with a first-due time long past).
-- name: RollupEnqueued :many
SELECT j.kind,
  CAST(CASE
    WHEN TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, j.created_at) > COALESCE(s.sla_seconds, d.sla_seconds) * 1000000 THEN 'OVERDUE'
    WHEN TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, j.created_at) > COALESCE(s.urgent_seconds, d.urgent_seconds) * 1000000 THEN 'URGENT'
    ELSE 'NORMAL' END AS CHAR(8)) AS class,
  COUNT(*) AS n
FROM iactq_jobs j FORCE INDEX (iactq_jobs_created)
LEFT JOIN iactq_kind_slas s ON s.kind = j.kind
LEFT JOIN iactq_kind_slas d ON d.kind = '*'
WHERE j.created_at >= sqlc.arg(from_at) AND j.created_at < sqlc.arg(to_at)
GROUP BY j.kind, class;

-- RollupStarted counts attempts started during [from_at, to_at) per minute (from
-- from_at, which is a minute's start), kind and the class the job was in at that
-- moment, among jobs finished since from_at (a range of iactq_jobs_finished) ... The
-- range has no end (a job may finish long after it starts), so a rollup reads it once
-- for all the minutes it rolls up, not once per minute: after a stop, an hour of
-- minutes each reading every job finished since would read the table sixty times.
-- name: RollupStartedFinished :many
SELECT CAST(TIMESTAMPDIFF(MINUTE, sqlc.narg(from_at), j.attempted_at) AS SIGNED) AS minute_offset,
  j.kind,
  CAST(CASE
    WHEN TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, j.attempted_at) > COALESCE(s.sla_seconds, d.sla_seconds) * 1000000 THEN 'OVERDUE'
    WHEN TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, j.attempted_at) > COALESCE(s.urgent_seconds, d.urgent_seconds) * 1000000 THEN 'URGENT'
    ELSE 'NORMAL' END AS CHAR(8)) AS class,
  COUNT(*) AS n
FROM iactq_jobs j FORCE INDEX (iactq_jobs_finished)
LEFT JOIN iactq_kind_slas s ON s.kind = j.kind
LEFT JOIN iactq_kind_slas d ON d.kind = '*'
WHERE j.finished_at >= sqlc.arg(from_at)
  AND j.attempted_at >= sqlc.arg(from_at) AND j.attempted_at < sqlc.arg(to_at)
GROUP BY minute_offset, j.kind, class;

-- ... and among jobs running or waiting to retry now (ranges of the state prefix), also
-- once for all the minutes: during a drain those ranges step over the index entries of
-- every job that finished lately, which the server purges only later (measured: 17 ms
-- a read, sixty of them in a first rollup).
-- name: RollupStartedLive :many
SELECT CAST(TIMESTAMPDIFF(MINUTE, sqlc.narg(from_at), j.attempted_at) AS SIGNED) AS minute_offset,
  j.kind,
  CAST(CASE
    WHEN TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, j.attempted_at) > COALESCE(s.sla_seconds, d.sla_seconds) * 1000000 THEN 'OVERDUE'
    WHEN TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, j.attempted_at) > COALESCE(s.urgent_seconds, d.urgent_seconds) * 1000000 THEN 'URGENT'
    ELSE 'NORMAL' END AS CHAR(8)) AS class,
  COUNT(*) AS n
FROM iactq_jobs j
LEFT JOIN iactq_kind_slas s ON s.kind = j.kind
LEFT JOIN iactq_kind_slas d ON d.kind = '*'
WHERE j.state IN ('running', 'retryable')
  AND j.attempted_at >= sqlc.arg(from_at) AND j.attempted_at < sqlc.arg(to_at)
GROUP BY minute_offset, j.kind, class;

-- RollupFinished counts jobs finished during [from_at, to_at) per kind, class at the
-- start of their last attempt, and outcome, with how many finished after their due
-- time: a range of iactq_jobs_finished.
-- name: RollupFinished :many
SELECT j.kind,
  CAST(CASE
    WHEN TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, COALESCE(j.attempted_at, j.finished_at)) > COALESCE(s.sla_seconds, d.sla_seconds) * 1000000 THEN 'OVERDUE'
    WHEN TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, COALESCE(j.attempted_at, j.finished_at)) > COALESCE(s.urgent_seconds, d.urgent_seconds) * 1000000 THEN 'URGENT'
    ELSE 'NORMAL' END AS CHAR(8)) AS class,
  j.state,
  CAST(SUM(TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, j.finished_at) > COALESCE(s.sla_seconds, d.sla_seconds) * 1000000) AS SIGNED) AS breached,
  COUNT(*) AS n
FROM iactq_jobs j FORCE INDEX (iactq_jobs_finished)
LEFT JOIN iactq_kind_slas s ON s.kind = j.kind
LEFT JOIN iactq_kind_slas d ON d.kind = '*'
WHERE j.finished_at >= sqlc.arg(from_at) AND j.finished_at < sqlc.arg(to_at)
GROUP BY j.kind, class, j.state;

-- RollupFinishedTimes returns the wait and run time of up to max_rows jobs completed or
-- discarded during [from_at, to_at), for percentiles.
-- name: RollupFinishedTimes :many
SELECT j.kind,
  CAST(CASE
    WHEN TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, j.attempted_at) > COALESCE(s.sla_seconds, d.sla_seconds) * 1000000 THEN 'OVERDUE'
    WHEN TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, j.attempted_at) > COALESCE(s.urgent_seconds, d.urgent_seconds) * 1000000 THEN 'URGENT'
    ELSE 'NORMAL' END AS CHAR(8)) AS class,
  CAST(TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, j.attempted_at) AS SIGNED) AS wait_us,
  CAST(TIMESTAMPDIFF(MICROSECOND, j.attempted_at, j.finished_at) AS SIGNED) AS run_us
FROM iactq_jobs j FORCE INDEX (iactq_jobs_finished)
LEFT JOIN iactq_kind_slas s ON s.kind = j.kind
LEFT JOIN iactq_kind_slas d ON d.kind = '*'
WHERE j.finished_at >= sqlc.arg(from_at) AND j.finished_at < sqlc.arg(to_at)
  AND j.attempted_at IS NOT NULL AND j.state IN ('completed', 'discarded')
ORDER BY j.finished_at
LIMIT ?;

-- name: RollupDeleteRange :exec
DELETE FROM iactq_sla_rollup WHERE minute >= sqlc.arg(from_at) AND minute < sqlc.arg(to_at);

-- name: RollupInsert :exec
INSERT INTO iactq_sla_rollup
  (minute, kind, class, enqueued, started, completed, discarded, cancelled, breached,
   wait_p50_ms, wait_p95_ms, run_p50_ms, run_p95_ms, computed_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- RollupByKind sums the rollup since a minute per kind (the rows of class '*').
-- name: RollupByKind :many
SELECT kind,
  CAST(SUM(enqueued) AS SIGNED) AS enqueued,
  CAST(SUM(started) AS SIGNED) AS started,
  CAST(SUM(completed) AS SIGNED) AS completed,
  CAST(SUM(discarded) AS SIGNED) AS discarded,
  CAST(SUM(breached) AS SIGNED) AS breached,
  CAST(COALESCE(MAX(wait_p95_ms), 0) AS SIGNED) AS worst_wait_p95_ms,
  CAST(COALESCE(MAX(run_p95_ms), 0) AS SIGNED) AS worst_run_p95_ms
FROM iactq_sla_rollup
WHERE minute >= sqlc.arg(since) AND class = '*'
GROUP BY kind
ORDER BY kind;

-- RollupMinutes is the per-minute totals over every kind since a minute (the rows of
-- kind '*'), for charts.
-- name: RollupMinutes :many
SELECT * FROM iactq_sla_rollup
WHERE kind = '*' AND class = '*' AND minute >= sqlc.arg(since)
ORDER BY minute;
