-- The dashboard's job browser (/jobs), filtered by one indexed column: JobBrowse with
-- the index of that column forced.
--
-- Why forced: given "col = X AND id < N ORDER BY id DESC LIMIT 50" and an index
-- (col, id), MariaDB 10.11 picks ref access on col alone when X is a common value,
-- and reads every entry of X above the cursor before the page (1.8 s for a page
-- half-way down 1 000 000 jobs with state = 'completed'; 0.2 ms as a range). With the
-- one index forced it reads the range (X, N) downwards: one page of rows. Which index
-- a page uses is chosen by queue.Client.Browse (JobBrowseProbe below).

-- name: JobBrowseByState :many
SELECT * FROM iactq_jobs FORCE INDEX (iactq_jobs_state_id)
WHERE state = sqlc.arg(state)
  AND (sqlc.narg(kind) IS NULL OR kind = sqlc.narg(kind))
  AND (sqlc.narg(queue) IS NULL OR queue = sqlc.narg(queue))
  AND (sqlc.narg(requested_by) IS NULL OR requested_by = sqlc.narg(requested_by))
  AND (sqlc.narg(created_from) IS NULL OR created_at >= sqlc.narg(created_from))
  AND (sqlc.narg(created_to) IS NULL OR created_at < sqlc.narg(created_to))
  AND (sqlc.narg(args_value) IS NULL OR JSON_SEARCH(args, 'one', sqlc.narg(args_value)) IS NOT NULL)
  AND id < sqlc.arg(before_id)
ORDER BY id DESC
LIMIT ?;

-- name: JobBrowseByKind :many
SELECT * FROM iactq_jobs FORCE INDEX (iactq_jobs_kind_id)
WHERE (sqlc.narg(state) IS NULL OR state = sqlc.narg(state))
  AND kind = sqlc.arg(kind)
  AND (sqlc.narg(queue) IS NULL OR queue = sqlc.narg(queue))
  AND (sqlc.narg(requested_by) IS NULL OR requested_by = sqlc.narg(requested_by))
  AND (sqlc.narg(created_from) IS NULL OR created_at >= sqlc.narg(created_from))
  AND (sqlc.narg(created_to) IS NULL OR created_at < sqlc.narg(created_to))
  AND (sqlc.narg(args_value) IS NULL OR JSON_SEARCH(args, 'one', sqlc.narg(args_value)) IS NOT NULL)
  AND id < sqlc.arg(before_id)
ORDER BY id DESC
LIMIT ?;

-- name: JobBrowseByQueue :many
SELECT * FROM iactq_jobs FORCE INDEX (iactq_jobs_queue_id)
WHERE (sqlc.narg(state) IS NULL OR state = sqlc.narg(state))
  AND (sqlc.narg(kind) IS NULL OR kind = sqlc.narg(kind))
  AND queue = sqlc.arg(queue)
  AND (sqlc.narg(requested_by) IS NULL OR requested_by = sqlc.narg(requested_by))
  AND (sqlc.narg(created_from) IS NULL OR created_at >= sqlc.narg(created_from))
  AND (sqlc.narg(created_to) IS NULL OR created_at < sqlc.narg(created_to))
  AND (sqlc.narg(args_value) IS NULL OR JSON_SEARCH(args, 'one', sqlc.narg(args_value)) IS NOT NULL)
  AND id < sqlc.arg(before_id)
ORDER BY id DESC
LIMIT ?;

-- name: JobBrowseByRequester :many
SELECT * FROM iactq_jobs FORCE INDEX (iactq_jobs_requested_by_id)
WHERE (sqlc.narg(state) IS NULL OR state = sqlc.narg(state))
  AND (sqlc.narg(kind) IS NULL OR kind = sqlc.narg(kind))
  AND (sqlc.narg(queue) IS NULL OR queue = sqlc.narg(queue))
  AND requested_by = sqlc.arg(requested_by)
  AND (sqlc.narg(created_from) IS NULL OR created_at >= sqlc.narg(created_from))
  AND (sqlc.narg(created_to) IS NULL OR created_at < sqlc.narg(created_to))
  AND (sqlc.narg(args_value) IS NULL OR JSON_SEARCH(args, 'one', sqlc.narg(args_value)) IS NOT NULL)
  AND id < sqlc.arg(before_id)
ORDER BY id DESC
LIMIT ?;

-- name: JobBrowseCountByState :one
-- JobBrowseCountBy*: how many jobs below the cursor one filter matches, counting at
-- most 1 000 (an index-only range read of at most 1 000 entries). Browse walks the
-- index of the given filter that matches fewest.
SELECT COUNT(*) FROM (SELECT 1 FROM iactq_jobs FORCE INDEX (iactq_jobs_state_id)
  WHERE state = sqlc.arg(state) AND id < sqlc.arg(before_id) LIMIT 1000) AS t;

-- name: JobBrowseCountByKind :one
SELECT COUNT(*) FROM (SELECT 1 FROM iactq_jobs FORCE INDEX (iactq_jobs_kind_id)
  WHERE kind = sqlc.arg(kind) AND id < sqlc.arg(before_id) LIMIT 1000) AS t;

-- name: JobBrowseCountByQueue :one
SELECT COUNT(*) FROM (SELECT 1 FROM iactq_jobs FORCE INDEX (iactq_jobs_queue_id)
  WHERE queue = sqlc.arg(queue) AND id < sqlc.arg(before_id) LIMIT 1000) AS t;

-- name: JobBrowseCountByRequester :one
SELECT COUNT(*) FROM (SELECT 1 FROM iactq_jobs FORCE INDEX (iactq_jobs_requested_by_id)
  WHERE requested_by = sqlc.arg(requested_by) AND id < sqlc.arg(before_id) LIMIT 1000) AS t;
