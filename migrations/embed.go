// Package migrations holds the schema as goose SQL migrations, embedded in the binary.
// sqlc reads the same files as its schema.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
