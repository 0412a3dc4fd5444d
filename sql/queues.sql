-- name: QueuePause :exec
INSERT INTO iactq_queues (name, paused_at, updated_at) VALUES (?, NOW(6), NOW(6))
ON DUPLICATE KEY UPDATE paused_at = COALESCE(paused_at, NOW(6)), updated_at = NOW(6);

-- name: QueueResume :exec
INSERT INTO iactq_queues (name, paused_at, updated_at) VALUES (?, NULL, NOW(6))
ON DUPLICATE KEY UPDATE paused_at = NULL, updated_at = NOW(6);

-- name: QueuePaused :many
SELECT name FROM iactq_queues WHERE paused_at IS NOT NULL ORDER BY name;

-- name: QueueList :many
SELECT name, paused_at FROM iactq_queues ORDER BY name;
