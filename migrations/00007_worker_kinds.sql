-- +goose Up

-- The kinds each worker process runs (comma-separated, as its build registered them),
-- beside the queues it serves. Claims take only the kinds the claiming worker runs;
-- a job whose kind no live worker runs waits (flagged by `iactq priorities`, the
-- dashboard and /metrics) and is discarded only after unknown_kind_grace, so that
-- during a rolling deploy an older build leaves a newer kind's jobs to newer workers.
-- NULL: a worker of a build from before this column, which may run any kind.
ALTER TABLE iactq_workers ADD COLUMN kinds TEXT NULL DEFAULT NULL;

-- +goose Down
ALTER TABLE iactq_workers DROP COLUMN kinds;
