//go:build !linux

package journald

import (
	"errors"
	"os"
)

// IsJournalStream is false off Linux: there is no journal.
func IsJournalStream(string, *os.File) bool { return false }

func (w *Writer) sendLarge([]byte) error { return errors.New("journald: message too large") }
