-- The leader and the doorbell (migrations/00009_leader.sql, docs/wakeups.md).

-- LeaderPresenceTake is the election: the presence row locked without waiting, in a
-- transaction the leader keeps open while it leads. It fails at once (NOWAIT: 1205 on
-- MariaDB, 3572 on MySQL) while a leader holds it; so it is also how a worker that
-- was not rung tells whether a leader is there at all.
-- name: LeaderPresenceTake :one
SELECT generation FROM iactq_doorbell WHERE id = 2 FOR UPDATE NOWAIT;

-- LeaderElect records a new leader once it holds the presence row: a new term.
-- name: LeaderElect :execrows
UPDATE iactq_leader
SET worker_id = sqlc.arg(worker_id), term = term + 1, elected_at = NOW(6),
    expires_at = NOW(6) + INTERVAL sqlc.arg(ttl_ms) * 1000 MICROSECOND
WHERE id = 1;

-- LeaderRenew extends the lease of the leader of this term; 0 rows: another was
-- elected since (this one was paused or cut off), and this one steps down.
-- name: LeaderRenew :execrows
UPDATE iactq_leader
SET expires_at = NOW(6) + INTERVAL sqlc.arg(ttl_ms) * 1000 MICROSECOND
WHERE id = 1 AND worker_id = sqlc.arg(worker_id) AND term = sqlc.arg(term);

-- LeaderResign ends this leader's lease at once (on shutdown).
-- name: LeaderResign :execrows
UPDATE iactq_leader SET expires_at = NOW(6)
WHERE id = 1 AND worker_id = sqlc.arg(worker_id) AND term = sqlc.arg(term);

-- LeaderGet reads who leads; live is 1 while the lease holds (the server's clock).
-- name: LeaderGet :one
SELECT worker_id, term, elected_at, expires_at,
       CAST(COALESCE(expires_at > NOW(6), 0) AS SIGNED) AS live
FROM iactq_leader WHERE id = 1;

-- BellLock holds the bell (the leader, in an open transaction, between rings).
-- name: BellLock :one
SELECT generation FROM iactq_doorbell WHERE id = 1 FOR UPDATE;

-- BellRing is the ring, committed at once: every waiter is granted. wake_groups says
-- which of them look for work (migrations/00012_doorbell_groups.sql): the group of
-- the new generation among wake_groups, or all at 1; heads, the claim heads it rang
-- for (JSON, or NULL).
-- name: BellRing :execrows
UPDATE iactq_doorbell
SET generation = generation + 1, rung_at = NOW(6), wake_groups = sqlc.arg(wake_groups), heads = sqlc.narg(heads)
WHERE id = 1;

-- BellWait is an idle worker's wait for a ring: it blocks while the leader holds the
-- bell, for at most the session's innodb_lock_wait_timeout (the safety net).
-- name: BellWait :one
SELECT generation, wake_groups, heads FROM iactq_doorbell WHERE id = 1 LOCK IN SHARE MODE;

-- BellGeneration reads the generation without waiting (a consistent read): where a
-- waiter starts counting rings.
-- A waiter whose wait for a seat timed out reads it too: the last sweep's heads, when
-- it came within the safety net (rung_ago_us), are its look for work.
-- name: BellGeneration :one
SELECT generation, wake_groups, heads,
       CAST(COALESCE(TIMESTAMPDIFF(MICROSECOND, rung_at, NOW(6)), 9223372036854775807) AS SIGNED) AS rung_ago_us
FROM iactq_doorbell WHERE id = 1;

-- WorkerCount is the fleet's size: the leader splits the waiters into groups of
-- about four by it.
-- name: WorkerCount :one
SELECT COUNT(*) FROM iactq_workers;

-- Seats (docs/wakeups.md, "Seats bound the herd"): at most 8 idle processes wait on
-- the bell; each holds a seat, a named lock of its session, while it does. SeatTake
-- takes the first free seat from seat start on (start = worker id MOD 8), without
-- waiting; when none is free it waits for seat start, for at most wait_seconds (the
-- safety net). It returns the seat taken, or -1 (the wait timed out). Each lock is per
-- database (CRC32 of its name: two iactq databases on one server do not share seats).
-- The 8 is bellSeats in queue/doorbell.go.
-- name: SeatTake :one
SELECT CAST(CASE
  WHEN GET_LOCK(CONCAT('iactq_seat_', MOD(CAST(sqlc.arg(start) AS SIGNED) + 0, 8), '_', CRC32(DATABASE())), 0) = 1 THEN MOD(CAST(sqlc.arg(start) AS SIGNED) + 0, 8)
  WHEN GET_LOCK(CONCAT('iactq_seat_', MOD(CAST(sqlc.arg(start) AS SIGNED) + 1, 8), '_', CRC32(DATABASE())), 0) = 1 THEN MOD(CAST(sqlc.arg(start) AS SIGNED) + 1, 8)
  WHEN GET_LOCK(CONCAT('iactq_seat_', MOD(CAST(sqlc.arg(start) AS SIGNED) + 2, 8), '_', CRC32(DATABASE())), 0) = 1 THEN MOD(CAST(sqlc.arg(start) AS SIGNED) + 2, 8)
  WHEN GET_LOCK(CONCAT('iactq_seat_', MOD(CAST(sqlc.arg(start) AS SIGNED) + 3, 8), '_', CRC32(DATABASE())), 0) = 1 THEN MOD(CAST(sqlc.arg(start) AS SIGNED) + 3, 8)
  WHEN GET_LOCK(CONCAT('iactq_seat_', MOD(CAST(sqlc.arg(start) AS SIGNED) + 4, 8), '_', CRC32(DATABASE())), 0) = 1 THEN MOD(CAST(sqlc.arg(start) AS SIGNED) + 4, 8)
  WHEN GET_LOCK(CONCAT('iactq_seat_', MOD(CAST(sqlc.arg(start) AS SIGNED) + 5, 8), '_', CRC32(DATABASE())), 0) = 1 THEN MOD(CAST(sqlc.arg(start) AS SIGNED) + 5, 8)
  WHEN GET_LOCK(CONCAT('iactq_seat_', MOD(CAST(sqlc.arg(start) AS SIGNED) + 6, 8), '_', CRC32(DATABASE())), 0) = 1 THEN MOD(CAST(sqlc.arg(start) AS SIGNED) + 6, 8)
  WHEN GET_LOCK(CONCAT('iactq_seat_', MOD(CAST(sqlc.arg(start) AS SIGNED) + 7, 8), '_', CRC32(DATABASE())), 0) = 1 THEN MOD(CAST(sqlc.arg(start) AS SIGNED) + 7, 8)
  WHEN GET_LOCK(CONCAT('iactq_seat_', MOD(CAST(sqlc.arg(start) AS SIGNED), 8), '_', CRC32(DATABASE())), CAST(sqlc.arg(wait_seconds) AS SIGNED)) = 1 THEN MOD(CAST(sqlc.arg(start) AS SIGNED), 8)
  ELSE -1 END AS SIGNED) AS seat;

-- name: SeatRelease :one
SELECT CAST(COALESCE(RELEASE_LOCK(CONCAT('iactq_seat_', CAST(sqlc.arg(seat) AS SIGNED), '_', CRC32(DATABASE()))), 0) AS SIGNED) AS released;
