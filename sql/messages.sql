-- name: MessageInsert :execlastid
INSERT INTO internal_messages (recipient, subject, body, job_id) VALUES (?, ?, ?, ?);

-- name: MessageList :many
SELECT * FROM internal_messages
WHERE (sqlc.narg(recipient) IS NULL OR recipient = sqlc.narg(recipient))
  AND (sqlc.arg(unread_only) = FALSE OR read_at IS NULL)
ORDER BY id DESC
LIMIT ?;

-- name: MessageMarkRead :execrows
UPDATE internal_messages SET read_at = NOW(6) WHERE id IN (sqlc.slice(ids)) AND read_at IS NULL;

-- name: MessageCountForJob :one
SELECT COUNT(*) FROM internal_messages WHERE job_id = ?;
