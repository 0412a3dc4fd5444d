-- Queries of session_cleanup and health_check. The statements on the session table
-- itself are not here: its name is configurable, which sqlc cannot parametrize, so they
-- are built in jobs/session_cleanup_sql.go.

-- name: SessionCleanupRecord :exec
-- One row per job; a retried job (stopped by a shutdown midway) adds its later
-- attempts' deletions to the first ones'.
INSERT INTO iactq_session_cleanups
  (job_id, table_name, deleted, batches, remaining, expired_left, cutoff, started_at, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON DUPLICATE KEY UPDATE
  deleted      = deleted + VALUES(deleted),
  batches      = batches + VALUES(batches),
  remaining    = VALUES(remaining),
  expired_left = VALUES(expired_left),
  cutoff       = VALUES(cutoff),
  finished_at  = VALUES(finished_at),
  attempts     = attempts + 1;

-- name: SessionCleanupGet :one
SELECT * FROM iactq_session_cleanups WHERE job_id = ?;

-- name: SessionCleanupLatest :many
SELECT * FROM iactq_session_cleanups ORDER BY finished_at DESC, job_id DESC LIMIT ?;

-- name: HealthResultInsert :exec
INSERT INTO iactq_health_results (job_id, target, ok, latency_ms, detail, state_changed, checked_at)
VALUES (?, ?, ?, ?, ?, ?, ?);

-- name: HealthResultsForJob :many
-- Every probe of a job, over all its attempts: the ones with state_changed are what
-- ops is told when the job completes.
SELECT * FROM iactq_health_results WHERE job_id = ? ORDER BY id;

-- name: HealthResultPrune :execrows
-- Old results, a bounded batch at a time (uses iactq_health_results_checked).
DELETE FROM iactq_health_results WHERE checked_at < ? ORDER BY checked_at LIMIT 5000;

-- name: HealthStateEnsure :exec
-- Creates a target's row (ok NULL: never observed) if missing, so that the next query
-- can lock it: SELECT ... FOR UPDATE on a missing row would lock nothing and two jobs
-- could both take the first observation for theirs.
INSERT INTO iactq_health_state (target) VALUES (?)
ON DUPLICATE KEY UPDATE target = target;

-- name: HealthStateGetForUpdate :one
-- Serializes concurrent health_check jobs per target until their transaction ends.
SELECT * FROM iactq_health_state WHERE target = ? FOR UPDATE;

-- name: HealthStateSet :exec
UPDATE iactq_health_state
SET ok = ?, since = ?, last_checked_at = ?, last_detail = ?, last_job_id = ?
WHERE target = ?;

-- name: HealthStateList :many
SELECT * FROM iactq_health_state ORDER BY target;
