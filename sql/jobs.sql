-- name: JobInsert :execlastid
INSERT INTO iactq_jobs (kind, queue, args, state, max_attempts, scheduled_at, available_at, unique_key, requested_by, schedule_name)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- JobGetLiveByUniqueKey finds the live job holding a unique key after an insert hit
-- it. A locking read: it sees the latest committed holder (a plain read in a
-- REPEATABLE READ transaction would see the transaction's older snapshot and miss it),
-- and keeps it live until this transaction ends.
-- name: JobGetLiveByUniqueKey :one
SELECT id FROM iactq_jobs WHERE unique_live_key = ? LOCK IN SHARE MODE;

-- name: JobGet :one
SELECT * FROM iactq_jobs WHERE id = ?;

-- name: JobGetForUpdate :one
SELECT * FROM iactq_jobs WHERE id = ? FOR UPDATE;

-- JobClaimHeads tells, per kind, the oldest available job of a queue: a loose index
-- scan of iactq_jobs_claim (one dive per kind, whatever the backlog), from which the
-- claimer knows which (kind, SLA class) ranges hold work. Grouping by the whole index
-- prefix is what makes MariaDB choose the loose scan ("Using index for group-by");
-- grouping by kind alone reads every available row.
-- name: JobClaimHeads :many
SELECT kind, CAST(MIN(scheduled_at) AS DATETIME(6)) AS oldest
FROM iactq_jobs FORCE INDEX (iactq_jobs_claim)
WHERE state = 'available' AND queue = sqlc.arg(queue)
GROUP BY state, queue, kind;

-- JobClaimRange locks up to n available jobs of one kind whose age puts them in one SLA
-- class: a range of iactq_jobs_claim read in (scheduled_at, id) order, so the LIMIT
-- stops the scan (no sort of the backlog). SKIP LOCKED steps over rows other claimers
-- hold, so claimers never wait on each other. The OVERDUE range has no lower bound
-- (from_at NULL, folded away by the optimizer), so that even a zero date inserted by a
-- lax session is claimed.
--
-- after_at/after_id, when set, start the read after the last job this claimer took from
-- the range: the rows it claimed a moment ago leave index entries the server purges
-- only later, and reading from the range's start would step over all of them on every
-- claim (measured: pages read per claim grew with the jobs drained). With both NULL
-- the condition folds away.
--
-- A paused queue yields nothing: the pause is read by each range read (one primary-key
-- lookup, evaluated once per statement, not locked), so a pause holds for every claim
-- that starts after the pause commits, not only after workers refresh their list.
-- name: JobClaimRange :many
SELECT * FROM iactq_jobs
WHERE state = 'available' AND queue = sqlc.arg(queue) AND kind = sqlc.arg(kind)
  AND (sqlc.narg(from_at) IS NULL OR scheduled_at >= sqlc.narg(from_at)) AND scheduled_at < sqlc.arg(to_at)
  AND (sqlc.narg(after_at) IS NULL OR scheduled_at > sqlc.narg(after_at)
       OR (scheduled_at = sqlc.narg(after_at) AND id > sqlc.narg(after_id)))
  AND NOT EXISTS (SELECT 1 FROM iactq_queues p WHERE p.name = sqlc.arg(queue) AND p.paused_at IS NOT NULL)
ORDER BY scheduled_at, id
LIMIT ?
FOR UPDATE SKIP LOCKED;

-- A row inserted by hand with attempt at INT's maximum must not make the claim of
-- the whole queue fail on an overflow: the attempt is capped.
-- name: JobMarkRunning :exec
UPDATE iactq_jobs
SET state = 'running', attempt = LEAST(attempt, 2147483646) + 1, attempted_at = sqlc.arg(now), claimed_by = sqlc.arg(worker_id)
WHERE id IN (sqlc.slice(ids));

-- Final writes are guarded by the claim: only while the job is still running, by this
-- worker, in this attempt. A worker that lost its claim (rescued after it stopped
-- heart-beating, or cancelled) changes nothing.
-- name: JobLockClaimed :many
SELECT j.id FROM iactq_jobs j
WHERE j.id IN (sqlc.slice(ids)) AND j.attempt = sqlc.arg(attempt) AND j.state = 'running' AND j.claimed_by = sqlc.arg(worker_id)
  AND EXISTS (SELECT 1 FROM iactq_workers w WHERE w.id = sqlc.narg(worker_id))
FOR UPDATE;

-- JobCompleteMany, JobLockClaimed and JobFail also need the claiming worker still
-- registered: a worker declared dead while paused or cut off, its jobs left for the
-- rescue to give to others, records no outcome of theirs when it comes back. The check
-- does not lock the worker's row: a worker paused in the middle of writing outcomes
-- must not keep the rescue from declaring it dead.
-- name: JobCompleteMany :execrows
UPDATE iactq_jobs j
SET j.state = 'completed', j.finished_at = sqlc.arg(now), j.claimed_by = NULL
WHERE j.id IN (sqlc.slice(ids)) AND j.attempt = sqlc.arg(attempt) AND j.state = 'running' AND j.claimed_by = sqlc.arg(worker_id)
  AND EXISTS (SELECT 1 FROM iactq_workers w WHERE w.id = sqlc.narg(worker_id));

-- name: JobFail :execrows
UPDATE iactq_jobs j
SET j.state = sqlc.arg(new_state),
    j.available_at = sqlc.narg(available_at),
    j.finished_at = sqlc.narg(finished_at),
    j.claimed_by = NULL,
    j.errors = JSON_ARRAY_APPEND(j.errors, '$', JSON_OBJECT('attempt', j.attempt, 'at', sqlc.arg(error_at), 'error', sqlc.arg(message)))
WHERE j.id = sqlc.arg(id) AND j.attempt = sqlc.arg(attempt) AND j.state = 'running' AND j.claimed_by = sqlc.arg(worker_id)
  AND EXISTS (SELECT 1 FROM iactq_workers w WHERE w.id = sqlc.narg(worker_id));

-- JobDueIDs finds scheduled and retryable jobs whose time has come; they are then
-- promoted by primary key (updating a secondary-index range invites deadlocks). SKIP
-- LOCKED: rows a claim or another promoter holds are left for the next round. A range
-- of iactq_jobs_available_at: available_at is set only while a job is scheduled or
-- retryable (every statement that moves a job out of those states clears it).
-- name: JobDueIDs :many
SELECT id FROM iactq_jobs
WHERE available_at <= sqlc.arg(now) AND state IN ('scheduled', 'retryable')
ORDER BY available_at, id
LIMIT ?
FOR UPDATE SKIP LOCKED;

-- name: JobMakeAvailable :execrows
UPDATE iactq_jobs SET state = 'available', available_at = NULL
WHERE id IN (sqlc.slice(ids)) AND state IN ('scheduled', 'retryable');

-- JobOrphaned finds running jobs whose worker is gone (its row deleted as stale), by
-- pages: a range of iactq_jobs_state_id from after_id (0 for the first page).
-- name: JobOrphaned :many
SELECT j.id, j.attempt, j.max_attempts, j.claimed_by FROM iactq_jobs j
WHERE j.state = 'running' AND j.id > sqlc.arg(after_id)
  AND (j.claimed_by IS NULL OR j.claimed_by NOT IN (SELECT w.id FROM iactq_workers w))
ORDER BY j.id
LIMIT ?;

-- JobRescueMany puts back in the queue the orphans of one dead worker read at one
-- attempt, in one statement: each row only while it is still running, claimed by that
-- worker, in the attempt read, and not at its final attempt (those are discarded one
-- by one with JobRescue, their requester told). The lost attempt is recorded in
-- errors, as JobRescue does.
-- name: JobRescueMany :execrows
UPDATE iactq_jobs
SET state = 'available',
    claimed_by = NULL,
    errors = JSON_ARRAY_APPEND(errors, '$', JSON_OBJECT('attempt', attempt, 'at', sqlc.arg(error_at), 'error', sqlc.arg(message)))
WHERE id IN (sqlc.slice(ids)) AND attempt = sqlc.arg(attempt) AND attempt < max_attempts
  AND state = 'running' AND claimed_by <=> sqlc.narg(claimed_by);

-- name: JobRescue :execrows
UPDATE iactq_jobs
SET state = sqlc.arg(new_state),
    finished_at = sqlc.narg(finished_at),
    claimed_by = NULL,
    errors = JSON_ARRAY_APPEND(errors, '$', JSON_OBJECT('attempt', attempt, 'at', sqlc.arg(error_at), 'error', sqlc.arg(message)))
WHERE id = sqlc.arg(id) AND attempt = sqlc.arg(attempt) AND state = 'running' AND claimed_by <=> sqlc.narg(claimed_by);

-- name: JobCancel :execrows
UPDATE iactq_jobs
SET state = 'cancelled', finished_at = sqlc.arg(now), available_at = NULL
WHERE id = sqlc.arg(id) AND state IN ('available', 'scheduled', 'running', 'retryable');

-- name: JobRetry :execrows
UPDATE iactq_jobs
SET state = 'available', scheduled_at = sqlc.arg(now), available_at = NULL, finished_at = NULL,
    claimed_by = NULL, max_attempts = GREATEST(max_attempts, attempt + 1)
WHERE id = sqlc.arg(id) AND state IN ('completed', 'discarded', 'cancelled', 'retryable', 'scheduled');

-- name: JobList :many
SELECT * FROM iactq_jobs
WHERE (sqlc.narg(state) IS NULL OR state = sqlc.narg(state))
  AND (sqlc.narg(kind) IS NULL OR kind = sqlc.narg(kind))
  AND (sqlc.narg(queue) IS NULL OR queue = sqlc.narg(queue))
ORDER BY id DESC
LIMIT ?;

-- name: JobCountByQueueState :many
SELECT queue, state, COUNT(*) AS n FROM iactq_jobs GROUP BY queue, state ORDER BY queue, state;

-- name: JobLastOfSchedule :one
SELECT * FROM iactq_jobs
WHERE schedule_name = ? AND state IN ('completed', 'discarded', 'cancelled')
ORDER BY id DESC LIMIT 1;

-- name: JobLiveOfSchedule :one
SELECT * FROM iactq_jobs
WHERE schedule_name = ? AND state IN ('available', 'scheduled', 'running', 'retryable')
ORDER BY id DESC LIMIT 1;

-- name: JobRunningOfWorker :many
SELECT id, state FROM iactq_jobs WHERE id IN (sqlc.slice(ids));

-- name: SessionAutoIncrementIncrement :one
SELECT CAST(@@auto_increment_increment AS SIGNED) AS increment;

-- JobRelease puts a job back in the queue without spending its attempt: its worker is
-- shutting down and stopped it before it finished.
-- Like the outcomes, a release needs the claiming worker still registered: a worker
-- declared dead leaves its jobs to the rescue, which spends the attempt. Without this,
-- a worker that had not noticed yet could give back a job it had run (its completion
-- fenced) with the attempt unspent, and that attempt would run twice.
-- name: JobRelease :execrows
UPDATE iactq_jobs j
SET j.state = 'available', j.attempt = j.attempt - 1, j.claimed_by = NULL
WHERE j.id = sqlc.arg(id) AND j.attempt = sqlc.arg(attempt) AND j.state = 'running' AND j.claimed_by = sqlc.arg(worker_id)
  AND EXISTS (SELECT 1 FROM iactq_workers w WHERE w.id = sqlc.narg(worker_id));

-- name: JobReleaseMany :execrows
UPDATE iactq_jobs j
SET j.state = 'available', j.attempt = j.attempt - 1, j.claimed_by = NULL
WHERE j.id IN (sqlc.slice(ids)) AND j.state = 'running' AND j.claimed_by = sqlc.arg(worker_id)
  AND EXISTS (SELECT 1 FROM iactq_workers w WHERE w.id = sqlc.narg(worker_id));

-- JobRunningClaimedBy lists a worker's running jobs, to find any it does not know it
-- holds (a claim whose COMMIT succeeded while the connection died before the answer).
-- name: JobRunningClaimedBy :many
SELECT id, attempt, attempted_at FROM iactq_jobs
WHERE state = 'running' AND claimed_by = ?
ORDER BY id;

-- JobFinishedBefore finds finished jobs whose retention is over: a range of
-- iactq_jobs_finished (finished_at is NULL until a job finishes). SKIP LOCKED: two
-- workers pruning at once take different rows.
-- name: JobFinishedBefore :many
SELECT id FROM iactq_jobs
WHERE finished_at < sqlc.arg(before) AND state IN ('completed', 'discarded', 'cancelled')
ORDER BY finished_at, id
LIMIT ?
FOR UPDATE SKIP LOCKED;

-- name: JobDeleteFinished :execrows
DELETE FROM iactq_jobs
WHERE id IN (sqlc.slice(ids)) AND state IN ('completed', 'discarded', 'cancelled');

-- JobHeadsEveryQueue is the oldest available job per queue and kind, over every queue:
-- a loose scan of the claim index (one probe per queue and kind), for the leader's
-- watch, the check of kinds no live worker runs, and a worker's poll.
-- JobMaxID is the highest job id: one page at the end of the primary key. The
-- leader's watcher reads it every poll_interval and the heads (above all of the claim
-- index, stepping over the entries of jobs claimed lately) only when it moved.
-- name: JobMaxID :one
SELECT CAST(COALESCE(MAX(id), 0) AS SIGNED) AS max_id FROM iactq_jobs;

-- name: JobHeadsEveryQueue :many
SELECT queue, kind, CAST(MIN(scheduled_at) AS DATETIME(6)) AS oldest
FROM iactq_jobs FORCE INDEX (iactq_jobs_claim)
WHERE state = 'available'
GROUP BY state, queue, kind;

-- JobWaitingSince locks available jobs of one queue and kind that have waited since
-- before a time (due then, and not attempted since): those of a kind no live worker
-- runs that are past unknown_kind_grace. A range of the claim index.
-- name: JobWaitingSince :many
SELECT * FROM iactq_jobs
WHERE state = 'available' AND queue = sqlc.arg(queue) AND kind = sqlc.arg(kind)
  AND scheduled_at < sqlc.arg(before) AND (attempted_at IS NULL OR attempted_at < sqlc.arg(attempted_before))
ORDER BY scheduled_at, id
LIMIT ?
FOR UPDATE SKIP LOCKED;

-- JobDiscardWaiting discards an available job that never ran in this attempt, with
-- the reason appended to its errors.
-- name: JobDiscardWaiting :execrows
UPDATE iactq_jobs
SET state = 'discarded',
    finished_at = sqlc.arg(finished_at),
    available_at = NULL,
    errors = JSON_ARRAY_APPEND(errors, '$', JSON_OBJECT('attempt', attempt, 'at', sqlc.arg(error_at), 'error', sqlc.arg(message)))
WHERE id = sqlc.arg(id) AND state = 'available';

-- The dashboard's job browser: newest first, one keyset page (id < before_id), with
-- optional filters. Filtered by kind or requester it reads iactq_jobs_kind_id or
-- iactq_jobs_requested_by_id (00008) backwards, else the primary key: a range scan in
-- index order that stops after LIMIT matching rows, never a filesort (web/jobs_plan_test.go).
-- name: JobBrowse :many
SELECT * FROM iactq_jobs
WHERE (sqlc.narg(state) IS NULL OR state = sqlc.narg(state))
  AND (sqlc.narg(kind) IS NULL OR kind = sqlc.narg(kind))
  AND (sqlc.narg(queue) IS NULL OR queue = sqlc.narg(queue))
  AND (sqlc.narg(requested_by) IS NULL OR requested_by = sqlc.narg(requested_by))
  AND (sqlc.narg(created_from) IS NULL OR created_at >= sqlc.narg(created_from))
  AND (sqlc.narg(created_to) IS NULL OR created_at < sqlc.narg(created_to))
  AND (sqlc.narg(args_value) IS NULL OR JSON_SEARCH(args, 'one', sqlc.narg(args_value)) IS NOT NULL)
  AND id < sqlc.arg(before_id)
ORDER BY id DESC
LIMIT ?;
