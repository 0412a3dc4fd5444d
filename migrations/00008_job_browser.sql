-- +goose Up

-- The dashboard's job browser (/jobs) lists jobs newest first (ORDER BY id DESC) by
-- keyset pages (id < the last id shown). Filtered by kind or by requester, these
-- indexes keep that a range scan reading one page of rows, in order, with no
-- filesort, whatever the table's size. Neither column changes after the insert, so
-- the entries never move when a job is claimed or finished (no cost per transition).
-- Other filters (state, queue, time range) read the primary key in the same order.
ALTER TABLE iactq_jobs
  ADD KEY iactq_jobs_kind_id (kind, id),
  ADD KEY iactq_jobs_requested_by_id (requested_by, id);

-- +goose Down
ALTER TABLE iactq_jobs DROP KEY iactq_jobs_kind_id, DROP KEY iactq_jobs_requested_by_id;
