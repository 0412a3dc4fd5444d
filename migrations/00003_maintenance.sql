-- +goose Up

-- The Django session table (django.contrib.sessions, SESSION_ENGINE
-- "django.contrib.sessions.backends.db"), exactly as migration 00002 and Django itself
-- create it (the index keeps Django's own name), so that session_cleanup works (and is
-- tested) whichever of them ran first.
-- expire_date is a DATETIME(6) without a zone: Django with USE_TZ = True (the platform's
-- setting) writes it in UTC, so session_cleanup compares it with UTC_TIMESTAMP(6).
CREATE TABLE IF NOT EXISTS django_session (
  session_key  VARCHAR(40) NOT NULL,
  session_data LONGTEXT    NOT NULL,
  expire_date  DATETIME(6) NOT NULL,
  PRIMARY KEY (session_key),
  KEY django_session_expire_date_a5c62663 (expire_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per session_cleanup job: what it deleted and what it left. A job that is
-- retried (stopped by a shutdown after deleting some batches) adds to its own row.
CREATE TABLE iactq_session_cleanups (
  job_id        BIGINT       NOT NULL,
  table_name    VARCHAR(64)  NOT NULL,
  -- Expired rows deleted, over every attempt of the job.
  deleted       BIGINT       NOT NULL DEFAULT 0,
  batches       INT          NOT NULL DEFAULT 0,
  -- Rows left in the table when the job finished, and how many of them had expired
  -- (non-zero when max_batches or max_duration stopped the job early).
  remaining     BIGINT       NOT NULL DEFAULT 0,
  expired_left  BIGINT       NOT NULL DEFAULT 0,
  -- Sessions that expired before cutoff were deleted (UTC, like expire_date).
  cutoff        DATETIME(6)  NOT NULL,
  started_at    TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  finished_at   TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  attempts      INT          NOT NULL DEFAULT 1,
  PRIMARY KEY (job_id),
  KEY iactq_session_cleanups_finished (finished_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Every probe of every health_check job, with its latency.
CREATE TABLE iactq_health_results (
  id            BIGINT        NOT NULL AUTO_INCREMENT,
  job_id        BIGINT        NOT NULL,
  target        VARCHAR(255)  NOT NULL,
  ok            BOOLEAN       NOT NULL,
  latency_ms    INT           NOT NULL,
  detail        VARCHAR(1000) NOT NULL DEFAULT '',
  -- This probe changed the target's state in iactq_health_state (the first FAIL of a
  -- new target counts, the first OK does not): ops is told of exactly these rows.
  state_changed BOOLEAN       NOT NULL DEFAULT FALSE,
  checked_at    TIMESTAMP(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY iactq_health_results_target (target, checked_at),
  KEY iactq_health_results_job (job_id),
  KEY iactq_health_results_checked (checked_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The current state of each target. ok is NULL only inside the transaction that first
-- creates the row (see HealthStateEnsure).
CREATE TABLE iactq_health_state (
  target          VARCHAR(255)  NOT NULL,
  ok              BOOLEAN       NULL DEFAULT NULL,
  -- When the target entered its current state.
  since           TIMESTAMP(6)  NULL DEFAULT NULL,
  last_checked_at TIMESTAMP(6)  NULL DEFAULT NULL,
  last_detail     VARCHAR(1000) NOT NULL DEFAULT '',
  last_job_id     BIGINT        NULL DEFAULT NULL,
  PRIMARY KEY (target)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down

-- django_session belongs to the platform (and to migration 00002): never dropped here.
DROP TABLE IF EXISTS iactq_health_state;
DROP TABLE IF EXISTS iactq_health_results;
DROP TABLE IF EXISTS iactq_session_cleanups;
