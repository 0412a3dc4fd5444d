-- Queries of the job kinds (package jobs/internal/jobsdb), one file per group of kinds.

-- name: DatabaseNow :one
SELECT CAST(NOW(6) AS DATETIME(6)) AS now;
