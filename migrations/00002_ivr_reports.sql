-- +goose Up

-- IVR call data: what the analytics reports (dashboard_metrics, call_flow_analysis,
-- abandonment_report, call_volume_trend) read. The telephony platform writes one row
-- per call when the call ends; `iactq demo load` writes synthetic ones.
--
-- Reports read a time range of calls, optionally of one flow, and aggregate in Go. The
-- two secondary indexes hold every column those reads need (covering), so a report is
-- one index range scan of exactly the calls in its period, whatever the table's size
-- (10 million rows and more): no table lookups, no full scans. See docs/kinds/reports.md
-- for the EXPLAIN.
CREATE TABLE ivr_calls (
  id             BIGINT       NOT NULL AUTO_INCREMENT,
  -- The telephony platform's id of the call (e.g. Asterisk's linkedid); demo calls
  -- are 'demo-YYYYMMDD-N'.
  call_ref       VARCHAR(64)  NOT NULL,
  -- The IVR flow the call entered ('main', 'support', 'sales', ...).
  flow_id        VARCHAR(64)  NOT NULL,
  -- SHA-256 (hex) of the caller's number: repeat callers are visible, numbers are not.
  caller_hash    CHAR(64)     NOT NULL,
  -- When the call reached the IVR, was answered by an agent (NULL if never), ended.
  started_at     TIMESTAMP(6) NOT NULL,
  answered_at    TIMESTAMP(6) NULL DEFAULT NULL,
  ended_at       TIMESTAMP(6) NOT NULL,
  -- Seconds waiting in the agent queue: until an agent answered (answered) or until
  -- the caller hung up (abandoned); 0 for calls that never queued for an agent.
  wait_seconds   INT          NOT NULL DEFAULT 0,
  -- Seconds with the agent (talk, hold, wrap-up); 0 unless answered.
  handle_seconds INT          NOT NULL DEFAULT 0,
  -- answered: an agent took it; abandoned: the caller hung up while waiting for an
  -- agent; self_served: finished in the IVR without an agent (e.g. paid a bill);
  -- dropped: ended in the IVR before reaching an agent queue (the caller hung up in
  -- a menu, or the system timed out or failed).
  outcome        ENUM('answered','abandoned','self_served','dropped') NOT NULL,
  -- The agent queue the call waited in ('billing', 'support', 'sales'), if any, and
  -- the agent who answered.
  agent_queue    VARCHAR(64)  NULL DEFAULT NULL,
  agent_id       VARCHAR(64)  NULL DEFAULT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY ivr_calls_ref (call_ref),
  -- Reports over all flows: range on started_at, covering.
  KEY ivr_calls_started (started_at, outcome, wait_seconds, handle_seconds),
  -- Reports of one flow: equality on flow_id, range on started_at, covering.
  KEY ivr_calls_flow_started (flow_id, started_at, outcome, wait_seconds, handle_seconds)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The IVR nodes a call went through, in order: seq 1 is the flow's entry node.
-- result says how the call left the node: 'next' (moved on to the node of seq + 1),
-- 'completed' (the flow finished here: self-service done or an agent answered),
-- 'hangup' (the caller hung up here), 'timeout' or 'error' (the system ended it).
CREATE TABLE ivr_call_events (
  call_id    BIGINT       NOT NULL,
  seq        SMALLINT     NOT NULL,
  node       VARCHAR(64)  NOT NULL,
  entered_at TIMESTAMP(6) NOT NULL,
  result     ENUM('next','completed','hangup','timeout','error') NOT NULL,
  PRIMARY KEY (call_id, seq),
  CONSTRAINT ivr_call_events_call FOREIGN KEY (call_id) REFERENCES ivr_calls (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The results of the report kinds: one row per job (a retried job replaces its row).
-- result is the report as JSON: {"kind", "title", "period", "totals", "tables"}; see
-- docs/kinds/reports.md. `iactq reports show JOB_ID` renders it.
CREATE TABLE iactq_reports (
  id         BIGINT       NOT NULL AUTO_INCREMENT,
  job_id     BIGINT       NOT NULL,
  kind       VARCHAR(100) NOT NULL,
  params     JSON         NOT NULL,
  result     JSON         NOT NULL,
  summary    VARCHAR(1000) NOT NULL DEFAULT '',
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY iactq_reports_job (job_id),
  KEY iactq_reports_kind (kind, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Django's session table, exactly as Django's migrations create it, for the platform's
-- database-backed sessions (session_cleanup, the demo). Created only when the
-- platform has not created it already.
CREATE TABLE IF NOT EXISTS django_session (
  session_key  VARCHAR(40) NOT NULL,
  session_data LONGTEXT    NOT NULL,
  expire_date  DATETIME(6) NOT NULL,
  PRIMARY KEY (session_key),
  KEY django_session_expire_date_a5c62663 (expire_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
-- django_session is left in place: it belongs to the platform once it exists.
DROP TABLE iactq_reports;
DROP TABLE ivr_call_events;
DROP TABLE ivr_calls;
