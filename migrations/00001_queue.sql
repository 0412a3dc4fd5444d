-- +goose Up

-- The queue. Apps may insert with plain SQL, giving only kind (and args, queue,
-- requested_by, scheduled_at, unique_key, max_attempts): every other column has a
-- default that makes the row a job a worker picks up.
--
-- Times are TIMESTAMP(6): stored as UTC instants, so the defaults are right whatever
-- the session or server time zone of whoever inserts.
CREATE TABLE iactq_jobs (
  id            BIGINT       NOT NULL AUTO_INCREMENT,
  kind          VARCHAR(100) NOT NULL,
  queue         VARCHAR(100) NOT NULL DEFAULT 'default',
  args          JSON         NOT NULL DEFAULT ('{}'),
  state         ENUM('available','scheduled','running','retryable','completed','discarded','cancelled')
                             NOT NULL DEFAULT 'available',
  attempt       INT          NOT NULL DEFAULT 0,
  max_attempts  INT          NOT NULL DEFAULT 25,
  created_at    TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  -- Not before. The engine never moves it: it is when the job first became due, and
  -- SLA age counts from it (a retry does not reset the requester's clock).
  scheduled_at  TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  -- When a 'scheduled' or 'retryable' job becomes 'available' (the retry back-off).
  available_at  TIMESTAMP(6) NULL DEFAULT NULL,
  attempted_at  TIMESTAMP(6) NULL DEFAULT NULL,
  finished_at   TIMESTAMP(6) NULL DEFAULT NULL,
  errors        JSON         NOT NULL DEFAULT ('[]'),
  unique_key    VARCHAR(255) NULL DEFAULT NULL,
  requested_by  VARCHAR(255) NULL DEFAULT NULL,
  -- The periodic schedule this job is an occurrence of, if any.
  schedule_name VARCHAR(100) NULL DEFAULT NULL,
  -- The worker process (iactq_workers.id) holding the job while it is running.
  claimed_by    BIGINT       NULL DEFAULT NULL,
  -- unique_key while the job is live, NULL once it is finished: the unique index on it
  -- lets a finished job's key be used again.
  unique_live_key VARCHAR(255) AS (IF(state IN ('completed','discarded','cancelled'), NULL, unique_key)) STORED,
  PRIMARY KEY (id),
  UNIQUE KEY iactq_jobs_unique_live (unique_live_key),
  -- The claim: one range per (queue, kind, SLA class), read in age order.
  KEY iactq_jobs_claim (state, queue, kind, scheduled_at, id),
  -- Promotion of 'scheduled' and 'retryable' jobs whose time has come.
  KEY iactq_jobs_available_at (state, available_at),
  KEY iactq_jobs_schedule (schedule_name, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- SLA per kind, kept in sync with the config file by workers; kind '*' is the default
-- for every kind without a row of its own.
CREATE TABLE iactq_kind_slas (
  kind           VARCHAR(100) NOT NULL,
  sla_seconds    INT          NOT NULL,
  urgent_seconds INT          NOT NULL,
  updated_at     TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (kind)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO iactq_kind_slas (kind, sla_seconds, urgent_seconds) VALUES
  ('*', 3600, 1800),
  ('dashboard_metrics', 7200, 3600),
  ('call_flow_analysis', 14400, 3600),
  ('abandonment_report', 7200, 3600);

-- Queues an operator paused. A queue with no row is running.
CREATE TABLE iactq_queues (
  name       VARCHAR(100) NOT NULL,
  paused_at  TIMESTAMP(6) NULL DEFAULT NULL,
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Live worker processes. A process whose heartbeat is stale is presumed dead: its row
-- is deleted and its running jobs go back to the queue.
CREATE TABLE iactq_workers (
  id           BIGINT        NOT NULL AUTO_INCREMENT,
  host         VARCHAR(255)  NOT NULL,
  pid          INT           NOT NULL,
  queues       VARCHAR(1000) NOT NULL,
  started_at   TIMESTAMP(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  heartbeat_at TIMESTAMP(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY iactq_workers_heartbeat (heartbeat_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The internal mailbox: every outcome a person waits for lands here (no e-mail, ever).
CREATE TABLE internal_messages (
  id         BIGINT       NOT NULL AUTO_INCREMENT,
  recipient  VARCHAR(255) NOT NULL,
  subject    VARCHAR(255) NOT NULL,
  body       TEXT         NOT NULL,
  job_id     BIGINT       NULL DEFAULT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  read_at    TIMESTAMP(6) NULL DEFAULT NULL,
  PRIMARY KEY (id),
  KEY internal_messages_recipient (recipient, id),
  KEY internal_messages_job (job_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The analysts' view: every job not yet finished, with its SLA class right now.
CREATE VIEW iactq_priorities AS
SELECT
  j.id,
  j.kind,
  j.queue,
  j.state,
  j.attempt,
  j.created_at,
  j.scheduled_at,
  GREATEST(0, TIMESTAMPDIFF(SECOND, j.scheduled_at, NOW(6))) AS age_seconds,
  COALESCE(s.sla_seconds, d.sla_seconds) AS sla_seconds,
  COALESCE(s.urgent_seconds, d.urgent_seconds) AS urgent_seconds,
  CASE
    WHEN TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, NOW(6)) > COALESCE(s.sla_seconds, d.sla_seconds) * 1000000 THEN 'OVERDUE'
    WHEN TIMESTAMPDIFF(MICROSECOND, j.scheduled_at, NOW(6)) > COALESCE(s.urgent_seconds, d.urgent_seconds) * 1000000 THEN 'URGENT'
    ELSE 'NORMAL'
  END AS priority_class,
  j.scheduled_at + INTERVAL COALESCE(s.sla_seconds, d.sla_seconds) SECOND AS due_at
FROM iactq_jobs j
LEFT JOIN iactq_kind_slas s ON s.kind = j.kind
LEFT JOIN iactq_kind_slas d ON d.kind = '*'
WHERE j.state IN ('available', 'scheduled', 'running', 'retryable');

-- +goose Down
DROP VIEW iactq_priorities;
DROP TABLE internal_messages;
DROP TABLE iactq_workers;
DROP TABLE iactq_queues;
DROP TABLE iactq_kind_slas;
DROP TABLE iactq_jobs;
