-- +goose Up

-- A ring wakes every waiter on the bell, but only a group of them looks for work
-- (docs/wakeups.md, "Rings wake a group"). wake_groups is how many groups the
-- ring's waiters were split into, by worker id: a waiter looks when
-- worker id MOD wake_groups = generation MOD wake_groups, and at 1 every waiter
-- looks. The others wait again at once. Without it, each ring for one new job set
-- the whole fleet claiming it: with 50 idle processes, about 350 statements for one
-- job, and that herd, not the ring, set the latency. The leader rings one group of
-- about four processes, and a wider one each time the job is still there a poll
-- later, up to the whole fleet.
--
-- heads are the claim heads the leader rang for (JSON: the oldest available job per
-- queue and kind, of queues not paused, as it read them just before the ring), so
-- that the group rung claims at once instead of reading them again. NULL: read them.
ALTER TABLE iactq_doorbell
  ADD COLUMN wake_groups INT NOT NULL DEFAULT 1,
  ADD COLUMN heads MEDIUMTEXT NULL DEFAULT NULL;

-- +goose Down
ALTER TABLE iactq_doorbell DROP COLUMN heads, DROP COLUMN wake_groups;
