package queue

import "context"

// CheckBinlogDSN tells whether dsn's user can follow the binary log for wake-ups: the
// log is on, in ROW format, and its position is readable (iactq doctor).
func CheckBinlogDSN(ctx context.Context, dsn string) error {
	_, err := currentBinlogPosition(ctx, dsn)
	return err
}
