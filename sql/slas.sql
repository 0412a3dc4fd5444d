-- name: KindSLAUpsert :exec
INSERT INTO iactq_kind_slas (kind, sla_seconds, urgent_seconds, updated_at) VALUES (?, ?, ?, NOW(6))
ON DUPLICATE KEY UPDATE sla_seconds = VALUES(sla_seconds), urgent_seconds = VALUES(urgent_seconds), updated_at = NOW(6);

-- name: KindSLAList :many
SELECT kind, sla_seconds, urgent_seconds FROM iactq_kind_slas ORDER BY kind;

-- name: PriorityList :many
SELECT * FROM iactq_priorities
WHERE state IN ('available', 'scheduled', 'retryable')
ORDER BY FIELD(priority_class, 'OVERDUE', 'URGENT', 'NORMAL'), scheduled_at, id
LIMIT ?;
