-- +goose Up

-- One process of the fleet at a time is the leader: it runs the periodic chores
-- (promotion, rescue, schedules, rollup, pruning, unknown kinds) and watches for new
-- work, waking every idle worker through the doorbell below. docs/wakeups.md tells
-- the whole design.
--
-- iactq_leader has one row: who leads, since when, and until when its lease holds
-- unless renewed. The leader renews it every second; `term` counts elections, and
-- every renewal is guarded by it, so a leader that was paused or cut off and replaced
-- finds out at its next renewal and steps down. The row is written through the
-- cluster like any other (on Galera it is certified), so `iactq workers` shows the
-- leader wherever it is read.
CREATE TABLE iactq_leader (
  id         TINYINT      NOT NULL,
  worker_id  BIGINT       NULL DEFAULT NULL,
  term       BIGINT       NOT NULL DEFAULT 0,
  elected_at TIMESTAMP(6) NULL DEFAULT NULL,
  expires_at TIMESTAMP(6) NULL DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO iactq_leader (id) VALUES (1);

-- iactq_doorbell has two rows, both locked by the leader in open transactions:
--   id 1, the bell: idle workers wait on it with a locking read (LOCK IN SHARE MODE);
--     to wake them the leader adds one to generation and commits, which grants every
--     waiter at once, then locks it again. A waiter granted with the generation it
--     already knew was not rung.
--   id 2, presence: held for as long as the leader leads, never released in between.
--     A waiter granted without a ring asks whether it is held (NOWAIT): if not, no
--     leader is there (its session ended: killed, cut off, or closed by the server's
--     wait_timeout after a pause), and the waiter stands for election, which is
--     taking this lock.
CREATE TABLE iactq_doorbell (
  id         TINYINT      NOT NULL,
  generation BIGINT       NOT NULL DEFAULT 0,
  rung_at    TIMESTAMP(6) NULL DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO iactq_doorbell (id) VALUES (1), (2);

-- +goose Down
DROP TABLE iactq_doorbell;
DROP TABLE iactq_leader;
