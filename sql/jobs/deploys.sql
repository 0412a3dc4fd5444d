-- Queries of deploy, deploy_step and dora_snapshot (jobs/deploy*.go, jobs/dora*.go).

-- name: DeployLockEnsure :exec
INSERT IGNORE INTO iactq_deploy_locks (env) VALUES (sqlc.arg(env));

-- DeployLockForUpdate locks an environment's row: every change of the environment's
-- holder, and every queued deploy's insertion, happens under it, so a deploy that
-- finds the environment busy and one that hands it over never miss each other.
-- name: DeployLockForUpdate :one
SELECT env, deploy_id FROM iactq_deploy_locks WHERE env = sqlc.arg(env) FOR UPDATE;

-- name: DeployLockSet :exec
UPDATE iactq_deploy_locks
SET deploy_id = sqlc.narg(deploy_id), locked_at = sqlc.narg(locked_at)
WHERE env = sqlc.arg(env);

-- name: DeployInsert :execlastid
INSERT INTO iactq_deploys (job_id, env, revision, state, requested_by, started_at, commit_time, driver_job_id)
VALUES (sqlc.arg(job_id), sqlc.arg(env), sqlc.arg(revision), sqlc.arg(state), sqlc.narg(requested_by),
        sqlc.narg(started_at), sqlc.narg(commit_time), sqlc.arg(job_id));

-- name: DeployGet :one
SELECT * FROM iactq_deploys WHERE id = sqlc.arg(id);

-- name: DeployGetByJob :one
SELECT * FROM iactq_deploys WHERE job_id = sqlc.arg(job_id);

-- name: DeployGetForUpdate :one
SELECT * FROM iactq_deploys WHERE id = sqlc.arg(id) FOR UPDATE;

-- name: DeployList :many
SELECT * FROM iactq_deploys
WHERE (sqlc.arg(env) = '' OR env = sqlc.arg(env))
ORDER BY id DESC
LIMIT ?;

-- name: DeployListFinishedBy :many
SELECT * FROM iactq_deploys WHERE finished_job_id = sqlc.arg(job_id) ORDER BY id;

-- DeployListToStart: the running deploys that job drives and whose first step has not
-- begun: the job enqueues that step when it completes.
-- name: DeployListToStart :many
SELECT d.* FROM iactq_deploys d
WHERE d.driver_job_id = sqlc.arg(job_id) AND d.state = 'running'
  AND NOT EXISTS (SELECT 1 FROM iactq_deploy_steps s WHERE s.deploy_id = d.id)
ORDER BY d.id;

-- name: DeployNextQueued :one
SELECT id FROM iactq_deploys
WHERE env = sqlc.arg(env) AND state = 'queued'
ORDER BY id
LIMIT 1;

-- name: DeployStart :execrows
UPDATE iactq_deploys
SET state = 'running', started_at = sqlc.arg(now), driver_job_id = sqlc.arg(driver_job_id)
WHERE id = sqlc.arg(id) AND state = 'queued';

-- name: DeployFinish :execrows
UPDATE iactq_deploys
SET state = sqlc.arg(state), failed_step = sqlc.narg(failed_step), finished_at = sqlc.arg(now),
    finished_job_id = sqlc.narg(finished_job_id)
WHERE id = sqlc.arg(id) AND state = 'running';

-- name: DeploySetCommitTime :exec
UPDATE iactq_deploys SET commit_time = sqlc.arg(commit_time) WHERE id = sqlc.arg(id);

-- DeployJobLive tells whether a job that may drive a deploy is still live: the job
-- with that id, or any step job of the deploy (unique key "deploy:ID:STEP").
-- name: DeployJobLive :one
SELECT COUNT(*) FROM iactq_jobs
WHERE (id = sqlc.arg(driver_job_id) AND state IN ('available','scheduled','running','retryable'))
   OR unique_live_key LIKE sqlc.arg(key_prefix);

-- name: DeployStepBegin :exec
INSERT INTO iactq_deploy_steps (deploy_id, seq, step, command, output, started_at)
VALUES (sqlc.arg(deploy_id), sqlc.arg(seq), sqlc.arg(step), sqlc.arg(command), '', sqlc.arg(started_at))
ON DUPLICATE KEY UPDATE command = VALUES(command), output = '', exit_code = NULL,
  started_at = VALUES(started_at), finished_at = NULL;

-- name: DeployStepEnd :exec
UPDATE iactq_deploy_steps
SET exit_code = sqlc.arg(exit_code), output = sqlc.arg(output), finished_at = sqlc.arg(finished_at)
WHERE deploy_id = sqlc.arg(deploy_id) AND seq = sqlc.arg(seq);

-- name: DeployStepList :many
SELECT * FROM iactq_deploy_steps WHERE deploy_id = sqlc.arg(deploy_id) ORDER BY seq;

-- DeployFinishedSince is the history the DORA metrics are computed from.
-- name: DeployFinishedSince :many
SELECT id, env, revision, state, started_at, finished_at, commit_time FROM iactq_deploys
WHERE env = sqlc.arg(env) AND finished_at >= sqlc.arg(since)
  AND state IN ('succeeded','failed','rolled_back')
ORDER BY finished_at, id;

-- name: DoraSnapshotInsert :execlastid
INSERT INTO iactq_dora_snapshots (job_id, env, window_days, window_start, window_end, computed_at,
  deploys, deploys_per_day, lead_time_seconds, change_failure_rate, time_to_restore_seconds, metrics)
VALUES (sqlc.narg(job_id), sqlc.arg(env), sqlc.arg(window_days), sqlc.arg(window_start), sqlc.arg(window_end),
  sqlc.arg(computed_at), sqlc.arg(deploys), sqlc.arg(deploys_per_day), sqlc.narg(lead_time_seconds),
  sqlc.narg(change_failure_rate), sqlc.narg(time_to_restore_seconds), sqlc.arg(metrics));

-- name: DoraSnapshotLatest :one
SELECT * FROM iactq_dora_snapshots
WHERE (sqlc.arg(env) = '' OR env = sqlc.arg(env))
ORDER BY id DESC
LIMIT 1;

-- name: DoraSnapshotLatestPerEnv :many
-- The newest snapshot of each environment (the dashboard's DORA table).
SELECT s.* FROM iactq_dora_snapshots s
JOIN (SELECT env, MAX(id) AS id FROM iactq_dora_snapshots GROUP BY env) l ON l.id = s.id
ORDER BY s.env;
