-- +goose Up

-- SLA history that analysts query with plain SQL, without Prometheus: one row per
-- minute, kind and priority class, kept by the workers (Client.Rollup, once a minute,
-- by whichever worker holds iactq_sla_rollup_state's row at that moment).
--
-- The class of a row is the class the job was in when the counted event happened:
-- when it was enqueued for `enqueued`, when its (last) attempt started for the rest.
-- kind '*' and class '*' hold the totals of the minute over every kind and class,
-- with percentiles computed over all of them (percentiles cannot be summed).
CREATE TABLE iactq_sla_rollup (
  minute      TIMESTAMP(6) NOT NULL,
  kind        VARCHAR(100) NOT NULL,
  class       VARCHAR(8)   NOT NULL,
  -- Jobs inserted during the minute.
  enqueued    INT          NOT NULL DEFAULT 0,
  -- Attempts that started during the minute (the last attempt of each job: an
  -- attempt that was retried afterwards is counted once, at its retry).
  started     INT          NOT NULL DEFAULT 0,
  -- Jobs that finished during the minute, by outcome.
  completed   INT          NOT NULL DEFAULT 0,
  discarded   INT          NOT NULL DEFAULT 0,
  cancelled   INT          NOT NULL DEFAULT 0,
  -- Of the completed and discarded ones, those that finished after their due time
  -- (scheduled_at + the kind's SLA): the requester waited longer than promised.
  breached    INT          NOT NULL DEFAULT 0,
  -- Wait (from due to the last attempt's start) and run time (last attempt) of the
  -- jobs that finished during the minute, in milliseconds; NULL without jobs.
  wait_p50_ms BIGINT       NULL DEFAULT NULL,
  wait_p95_ms BIGINT       NULL DEFAULT NULL,
  run_p50_ms  BIGINT       NULL DEFAULT NULL,
  run_p95_ms  BIGINT       NULL DEFAULT NULL,
  computed_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (minute, kind, class),
  KEY iactq_sla_rollup_kind (kind, minute)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row: the first minute not rolled up yet. A worker locks it (SKIP LOCKED) to
-- roll up, so many workers calling Rollup at once do the work once.
CREATE TABLE iactq_sla_rollup_state (
  id           INT          NOT NULL,
  rolled_until TIMESTAMP(6) NULL DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO iactq_sla_rollup_state (id, rolled_until) VALUES (1, NULL);

-- The rollup and the dashboard read jobs by when they were created and finished:
-- ranges of these two indexes. Both grow at their right edge only.
ALTER TABLE iactq_jobs
  ADD KEY iactq_jobs_created (created_at),
  ADD KEY iactq_jobs_finished (finished_at);

-- Actions taken from the dashboard (retry, cancel, pause, resume, run a schedule now),
-- refused ones included.
CREATE TABLE iactq_audit (
  id          BIGINT        NOT NULL AUTO_INCREMENT,
  at          TIMESTAMP(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  actor       VARCHAR(255)  NOT NULL,
  action      VARCHAR(32)   NOT NULL,
  target      VARCHAR(255)  NOT NULL,
  ok          BOOLEAN       NOT NULL,
  detail      VARCHAR(1000) NOT NULL DEFAULT '',
  remote_addr VARCHAR(255)  NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  KEY iactq_audit_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE iactq_audit;
ALTER TABLE iactq_jobs DROP KEY iactq_jobs_finished, DROP KEY iactq_jobs_created;
DROP TABLE iactq_sla_rollup_state;
DROP TABLE iactq_sla_rollup;
