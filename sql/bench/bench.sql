-- The benchmark's own statements (package bench/internal/benchdb): the floor loop —
-- the simplest possible SKIP LOCKED claim and completion — and housekeeping.

-- name: FloorClaim :many
SELECT id FROM iactq_jobs
WHERE state = 'available' AND queue = sqlc.arg(queue) AND kind = sqlc.arg(kind)
ORDER BY scheduled_at, id
LIMIT ?
FOR UPDATE SKIP LOCKED;

-- name: FloorMarkRunning :exec
UPDATE iactq_jobs SET state = 'running', attempt = attempt + 1 WHERE id IN (sqlc.slice(ids));

-- name: FloorComplete :exec
UPDATE iactq_jobs SET state = 'completed', finished_at = NOW(6) WHERE id IN (sqlc.slice(ids));

-- name: BenchClear :exec
DELETE FROM iactq_jobs;

-- BenchTruncate empties the jobs table before a drain or a floor loop is measured, with
-- no worker process running: after a DELETE the server purges every deleted row's index
-- entries while the next measurement runs, and each drain or floor loop then ran
-- beside the purge of the one before.
-- name: BenchTruncate :exec
TRUNCATE TABLE iactq_jobs;

-- BenchUnfinished tells whether any job of a queue is still to be finished: a dive into
-- the claim index per state (a COUNT of completed jobs would read the whole finished
-- range each time, and slow the drain it measures). During a drain the dive steps over
-- the index entries of the jobs just claimed, which the server purges only later
-- (measured with the slow query log: 12 ms a look, 0.8 s of server time in a
-- 100 000-job drain at the defaults): the watch asks it only once the queue's last job
-- is finished (BenchLastUnfinished). Per queue: a worker process enqueues the default
-- schedules' next occurrences (state scheduled, queue maintenance) as it starts.
-- name: BenchUnfinished :one
SELECT EXISTS (
  SELECT 1 FROM iactq_jobs
  WHERE state IN ('available', 'running', 'scheduled', 'retryable') AND queue = sqlc.arg(queue)
) AS unfinished;

-- BenchLastUnfinished tells whether the job of a queue with the highest id is still to
-- be finished: the last entry of the (queue, id) index, which a job's change of state
-- leaves alone, and its row. A drain claims in order, and ends after it.
-- name: BenchLastUnfinished :one
SELECT EXISTS (
  SELECT 1 FROM iactq_jobs j
  WHERE j.id = (SELECT MAX(m.id) FROM iactq_jobs m WHERE m.queue = sqlc.arg(queue))
  AND j.state IN ('available', 'running', 'scheduled', 'retryable')
) AS unfinished;

-- name: BenchCountState :one
SELECT COUNT(*) FROM iactq_jobs WHERE state = ?;

-- name: BenchDrainSpan :one
SELECT CAST(MIN(attempted_at) AS DATETIME(6)) AS first_start, CAST(MAX(finished_at) AS DATETIME(6)) AS last_finish, COUNT(*) AS n
FROM iactq_jobs WHERE state = 'completed' AND queue = sqlc.arg(queue);

-- name: BenchLatencies :many
SELECT CAST(TIMESTAMPDIFF(MICROSECOND, created_at, attempted_at) AS SIGNED) AS micros
FROM iactq_jobs WHERE state = 'completed' AND queue = sqlc.arg(queue)
ORDER BY id;

-- BenchBacklog counts the jobs of a queue waiting to be claimed: a range of the claim
-- index that stays small while workers keep up, so sampling it every second is cheap.
-- name: BenchBacklog :one
SELECT COUNT(*) FROM iactq_jobs WHERE state = 'available' AND queue = sqlc.arg(queue);

-- BenchClearQueue deletes the jobs of one queue (a warm-up job, say) while workers run.
-- name: BenchClearQueue :exec
DELETE FROM iactq_jobs WHERE queue = sqlc.arg(queue);

-- BenchClearWorkers forgets the worker processes of earlier runs (a SIGKILLed one
-- leaves its row behind).
-- name: BenchClearWorkers :exec
DELETE FROM iactq_workers;

-- name: BenchWorkers :one
SELECT COUNT(*) FROM iactq_workers;

-- BenchInsertPlain is a job inserted as any program would, with plain SQL: no client,
-- nothing but the row (enqueue-to-start counts from its created_at).
-- name: BenchInsertPlain :execlastid
INSERT INTO iactq_jobs (kind, queue) VALUES ('noop', sqlc.arg(queue));

-- BenchJobStart is when a job was inserted and when an attempt started (NULL: not yet).
-- name: BenchJobStart :one
SELECT created_at, attempted_at FROM iactq_jobs WHERE id = ?;
