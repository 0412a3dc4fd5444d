-- name: WorkerInsert :execlastid
INSERT INTO iactq_workers (host, pid, queues, kinds) VALUES (?, ?, ?, ?);

-- WorkerTouch is the heartbeat, and also the first statement of every claim: it locks
-- the worker's row, so a claim and the rescue of this worker never interleave, and a
-- worker whose row is gone (declared dead) claims nothing more under that id.
-- It ends an idle lease (idle_until): a worker that claims is rescued after
-- rescue_after again.
-- name: WorkerTouch :execrows
UPDATE iactq_workers SET heartbeat_at = NOW(6), idle_until = NULL WHERE id = ?;

-- WorkerTouchIdle is an idle worker's heartbeat: live for lease_ms whatever its
-- heartbeat's age (migrations/00013_worker_idle_lease.sql). The database has the last
-- word on idle: if the worker holds a running job, it changes nothing (0 rows), and
-- the worker beats as a busy one. The check is safe against a claim in flight: the
-- claim locks this row first (WorkerTouch), so the UPDATE waits for it to commit, and
-- under READ COMMITTED the subqueries' read view is made after that wait (they are
-- the statement's first consistent read), so they see the claim's jobs.
-- name: WorkerTouchIdle :execrows
UPDATE iactq_workers w
SET w.idle_until = IF(EXISTS (SELECT 1 FROM iactq_jobs j WHERE j.claimed_by = w.id AND j.state = 'running'),
                      w.idle_until, NOW(6) + INTERVAL sqlc.arg(lease_ms) * 1000 MICROSECOND),
    w.heartbeat_at = IF(EXISTS (SELECT 1 FROM iactq_jobs j WHERE j.claimed_by = w.id AND j.state = 'running'),
                        w.heartbeat_at, NOW(6))
WHERE w.id = sqlc.arg(id);

-- name: WorkerDelete :execrows
DELETE FROM iactq_workers WHERE id = ?;

-- WorkerLockStale locks the stale workers that can be locked now. A worker whose own
-- claim transaction still holds its row (a process paused mid-claim) is skipped, not
-- waited for: the server ends that transaction (wait_timeout) and a later round
-- declares it dead.
-- name: WorkerLockStale :many
SELECT id FROM iactq_workers
WHERE heartbeat_at < NOW(6) - INTERVAL sqlc.arg(stale_seconds) SECOND
  AND (idle_until IS NULL OR idle_until < NOW(6))
ORDER BY id
FOR UPDATE SKIP LOCKED;

-- name: WorkerDeleteMany :execrows
DELETE FROM iactq_workers WHERE id IN (sqlc.slice(ids));

-- The heartbeat's age in microseconds as BIGINT: a dead worker's row left for an hour
-- is past INT's range. idle_left_us: how long an idle worker's lease still holds
-- (0 when it has none or it ended), by the server's clock.
-- name: WorkerList :many
SELECT id, host, pid, queues, kinds, started_at, heartbeat_at, idle_until,
       CAST(TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6)) AS SIGNED) AS heartbeat_age_us,
       CAST(GREATEST(COALESCE(TIMESTAMPDIFF(MICROSECOND, NOW(6), idle_until), 0), 0) AS SIGNED) AS idle_left_us
FROM iactq_workers ORDER BY id;

-- name: SessionDatabase :one
SELECT CAST(COALESCE(DATABASE(), '') AS CHAR(64)) AS name;
