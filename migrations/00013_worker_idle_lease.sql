-- +goose Up

-- An idle worker (no job running, none claimed ahead) says it is alive rarely: every
-- 45 s at the defaults instead of every heartbeat_interval, so that an idle fleet costs
-- the server almost nothing per process (docs/wakeups.md, "What idle costs"). Its
-- heartbeat then also sets idle_until, a lease three times rescue_after long: until
-- it ends, the worker is live whatever its heartbeat's age. It holds no job a rescue
-- would have to give back, so a dead idle worker is only noticed later (its row stays
-- up to 90 s instead of 30 s). Any other touch, a claim's above all, clears it: a
-- worker holding jobs is rescued after rescue_after, as before.
ALTER TABLE iactq_workers ADD COLUMN idle_until TIMESTAMP(6) NULL DEFAULT NULL;

-- +goose Down
ALTER TABLE iactq_workers DROP COLUMN idle_until;
