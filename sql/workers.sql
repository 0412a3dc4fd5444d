-- name: WorkerInsert :execlastid
INSERT INTO iactq_workers (host, pid, queues, kinds) VALUES (?, ?, ?, ?);

-- WorkerTouch is the heartbeat, and also the first statement of every claim: it locks
-- the worker's row, so a claim and the rescue of this worker never interleave, and a
-- worker whose row is gone (declared dead) claims nothing more under that id.
-- name: WorkerTouch :execrows
UPDATE iactq_workers SET heartbeat_at = NOW(6) WHERE id = ?;

-- name: WorkerDelete :execrows
DELETE FROM iactq_workers WHERE id = ?;

-- WorkerLockStale locks the stale workers that can be locked now. A worker whose own
-- claim transaction still holds its row (a process paused mid-claim) is skipped, not
-- waited for: the server ends that transaction (wait_timeout) and a later round
-- declares it dead.
-- name: WorkerLockStale :many
SELECT id FROM iactq_workers
WHERE heartbeat_at < NOW(6) - INTERVAL sqlc.arg(stale_seconds) SECOND
ORDER BY id
FOR UPDATE SKIP LOCKED;

-- name: WorkerDeleteMany :execrows
DELETE FROM iactq_workers WHERE id IN (sqlc.slice(ids));

-- The heartbeat's age in microseconds as BIGINT: a dead worker's row left for an hour
-- is past INT's range.
-- name: WorkerList :many
SELECT id, host, pid, queues, kinds, started_at, heartbeat_at,
       CAST(TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6)) AS SIGNED) AS heartbeat_age_us
FROM iactq_workers ORDER BY id;

-- name: SessionDatabase :one
SELECT CAST(COALESCE(DATABASE(), '') AS CHAR(64)) AS name;
