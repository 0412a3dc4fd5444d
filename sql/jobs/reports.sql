-- The calls of a period, all flows: a range scan of the covering index
-- ivr_calls_started (no table lookups). Aggregation happens in Go.
-- name: CallsInPeriod :many
SELECT started_at, outcome, wait_seconds, handle_seconds
FROM ivr_calls FORCE INDEX (ivr_calls_started)
WHERE started_at >= sqlc.arg(from_time) AND started_at < sqlc.arg(to_time);

-- The calls of one flow in a period: a range scan of the covering index
-- ivr_calls_flow_started.
-- name: FlowCallsInPeriod :many
SELECT started_at, outcome, wait_seconds, handle_seconds
FROM ivr_calls FORCE INDEX (ivr_calls_flow_started)
WHERE flow_id = sqlc.arg(flow_id) AND started_at >= sqlc.arg(from_time) AND started_at < sqlc.arg(to_time);

-- The node events of one flow's calls in a period: the calls by a range of
-- ivr_calls_flow_started, their events by primary key. No ORDER BY: the caller sorts
-- by (call_id, seq) in memory, which spares the server a temporary table and a
-- filesort of every event.
-- name: FlowEventsInPeriod :many
SELECT e.call_id, e.seq, e.node, e.result
FROM ivr_calls c FORCE INDEX (ivr_calls_flow_started)
JOIN ivr_call_events e ON e.call_id = c.id
WHERE c.flow_id = sqlc.arg(flow_id) AND c.started_at >= sqlc.arg(from_time) AND c.started_at < sqlc.arg(to_time);

-- name: FlowCallCount :one
SELECT COUNT(*) FROM ivr_calls FORCE INDEX (ivr_calls_flow_started)
WHERE flow_id = sqlc.arg(flow_id) AND started_at >= sqlc.arg(from_time) AND started_at < sqlc.arg(to_time);

-- One row per job: a retried job replaces its report (same id, new result).
-- name: ReportUpsert :exec
INSERT INTO iactq_reports (job_id, kind, params, result, summary, created_at)
VALUES (sqlc.arg(job_id), sqlc.arg(kind), sqlc.arg(params), sqlc.arg(result), sqlc.arg(summary), sqlc.arg(created_at))
ON DUPLICATE KEY UPDATE kind = sqlc.arg(kind), params = sqlc.arg(params), result = sqlc.arg(result),
  summary = sqlc.arg(summary), created_at = sqlc.arg(created_at);

-- name: ReportGetByJob :one
SELECT id, job_id, kind, params, result, summary, created_at FROM iactq_reports WHERE job_id = sqlc.arg(job_id);

-- name: ReportList :many
SELECT id, job_id, kind, summary, created_at FROM iactq_reports ORDER BY id DESC LIMIT ?;

-- name: ReportListByKind :many
SELECT id, job_id, kind, summary, created_at FROM iactq_reports WHERE kind = sqlc.arg(kind) ORDER BY id DESC LIMIT ?;

-- Demo calls are 'demo-YYYYMMDD-N': replacing a day's demo calls is a range of the
-- unique index on call_ref; their events go with them (ON DELETE CASCADE).
-- name: DemoCallsDelete :execrows
DELETE FROM ivr_calls WHERE call_ref LIKE sqlc.arg(ref_prefix);

-- name: CallIDsByRef :many
SELECT id, call_ref FROM ivr_calls WHERE call_ref IN (sqlc.slice('refs'));

-- Demo sessions have keys starting with 'demo'; real Django keys are random.
-- name: DemoSessionsDelete :execrows
DELETE FROM django_session WHERE session_key LIKE 'demo%';

-- The flows that have calls: a loose scan of ivr_calls_flow_started (one index dive
-- per flow), for refusing an unknown flow_id at enqueue.
-- name: FlowList :many
SELECT DISTINCT flow_id FROM ivr_calls FORCE INDEX (ivr_calls_flow_started) ORDER BY flow_id;

-- The first and the last call held: the two ends of ivr_calls_started.
-- name: CallsFirst :one
SELECT started_at FROM ivr_calls FORCE INDEX (ivr_calls_started) ORDER BY started_at LIMIT 1;

-- name: CallsLast :one
SELECT started_at FROM ivr_calls FORCE INDEX (ivr_calls_started) ORDER BY started_at DESC LIMIT 1;

-- Whether any call started in a period: one index dive.
-- name: CallsExistInPeriod :one
SELECT EXISTS (SELECT 1 FROM ivr_calls FORCE INDEX (ivr_calls_started)
  WHERE started_at >= sqlc.arg(from_time) AND started_at < sqlc.arg(to_time)) AS found;
