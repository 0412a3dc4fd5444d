-- +goose Up

-- Deployments (jobs deploy and deploy_step): one row per deploy, its steps' audit trail,
-- the per-environment lock, and DORA snapshots computed from this history.
--
-- state: queued (waiting for its environment's lock), running, succeeded, failed (a
-- step failed and nothing was, or could be, rolled back), rolled_back (a step failed
-- and the rollback command restored this deploy's backup).
CREATE TABLE iactq_deploys (
  id              BIGINT        NOT NULL AUTO_INCREMENT,
  -- The deploy job that asked for it.
  job_id          BIGINT        NULL DEFAULT NULL,
  env             VARCHAR(32)   NOT NULL,
  revision        VARCHAR(128)  NOT NULL,
  state           ENUM('queued','running','succeeded','failed','rolled_back') NOT NULL DEFAULT 'queued',
  requested_by    VARCHAR(255)  NULL DEFAULT NULL,
  -- The step that failed (or 'abandoned' for a deploy whose chain of jobs died).
  failed_step     VARCHAR(32)   NULL DEFAULT NULL,
  created_at      TIMESTAMP(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  started_at      TIMESTAMP(6)  NULL DEFAULT NULL,
  finished_at     TIMESTAMP(6)  NULL DEFAULT NULL,
  -- Commit time of the revision, for the DORA lead time (set by the deploy from the
  -- configured git repository, or by whoever records deploys with SQL).
  commit_time     TIMESTAMP(6)  NULL DEFAULT NULL,
  -- The job that drives the deploy right now: the deploy job, or the step job of the
  -- deploy before it that handed the environment over. A running deploy with neither
  -- that job nor a step job live is abandoned.
  driver_job_id   BIGINT        NULL DEFAULT NULL,
  -- The step job that finished the deploy (a re-run of it redoes its messages).
  finished_job_id BIGINT        NULL DEFAULT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY iactq_deploys_job (job_id),
  KEY iactq_deploys_env_state (env, state, id),
  KEY iactq_deploys_finished (env, finished_at),
  KEY iactq_deploys_driver (driver_job_id),
  KEY iactq_deploys_finisher (finished_job_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Every step's command, exit code and output (the last 64 KiB): the audit trail.
-- seq follows the pipeline: 1 validate .. 7 healthcheck, 8 rollback.
CREATE TABLE iactq_deploy_steps (
  deploy_id   BIGINT        NOT NULL,
  seq         INT           NOT NULL,
  step        VARCHAR(32)   NOT NULL,
  -- The argv as a JSON array, as run.
  command     TEXT          NOT NULL,
  -- NULL while running; -1 when the command could not start or timed out.
  exit_code   INT           NULL DEFAULT NULL,
  output      MEDIUMTEXT    NOT NULL,
  started_at  TIMESTAMP(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  finished_at TIMESTAMP(6)  NULL DEFAULT NULL,
  PRIMARY KEY (deploy_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per environment: the deploy holding it (NULL when free). Deploys take it
-- with the row locked (SELECT ... FOR UPDATE), so one deploy per environment runs at
-- a time across every worker process.
CREATE TABLE iactq_deploy_locks (
  env       VARCHAR(32)  NOT NULL,
  deploy_id BIGINT       NULL DEFAULT NULL,
  locked_at TIMESTAMP(6) NULL DEFAULT NULL,
  PRIMARY KEY (env)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO iactq_deploy_locks (env) VALUES ('staging'), ('production');

-- DORA snapshots (job dora_snapshot): the headline numbers as columns, everything
-- (both windows, bands, counts) in metrics.
CREATE TABLE iactq_dora_snapshots (
  id                      BIGINT       NOT NULL AUTO_INCREMENT,
  job_id                  BIGINT       NULL DEFAULT NULL,
  env                     VARCHAR(32)  NOT NULL,
  window_days             INT          NOT NULL,
  window_start            TIMESTAMP(6) NOT NULL,
  window_end              TIMESTAMP(6) NOT NULL,
  computed_at             TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  deploys                 INT          NOT NULL,
  deploys_per_day         DOUBLE       NOT NULL,
  lead_time_seconds       DOUBLE       NULL DEFAULT NULL,
  change_failure_rate     DOUBLE       NULL DEFAULT NULL,
  time_to_restore_seconds DOUBLE       NULL DEFAULT NULL,
  metrics                 JSON         NOT NULL,
  PRIMARY KEY (id),
  KEY iactq_dora_snapshots_env (env, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE iactq_dora_snapshots;
DROP TABLE iactq_deploy_locks;
DROP TABLE iactq_deploy_steps;
DROP TABLE iactq_deploys;
