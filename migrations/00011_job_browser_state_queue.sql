-- +goose Up

-- The job browser (/jobs) filtered by state or by queue: like (kind, id) and
-- (requested_by, id) of 00008, these keep a page a range scan of one page of rows, in
-- id order, whatever the table's size (sql/browse.sql forces the one index a page
-- walks). Without them a filter on a rare state or queue walked the primary key
-- until it found a page: 250 000 rows for a queue of 200 jobs among 1 000 000.
-- queue never changes after the insert. state does: each transition (available ->
-- running -> completed) moves the job's (state, id) entry, one more secondary index
-- write per transition beside the claim index's.
ALTER TABLE iactq_jobs
  ADD KEY iactq_jobs_state_id (state, id),
  ADD KEY iactq_jobs_queue_id (queue, id);

-- +goose Down
ALTER TABLE iactq_jobs DROP KEY iactq_jobs_state_id, DROP KEY iactq_jobs_queue_id;
