//go:build linux

package journald

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// IsJournalStream tells whether f (stderr) is connected to the journal: systemd sets
// JOURNAL_STREAM to "DEVICE:INODE" of the stream it gives a service, and a process
// whose stderr is still that stream may talk to journald directly.
func IsJournalStream(journalStream string, f *os.File) bool {
	dev, ino, ok := strings.Cut(journalStream, ":")
	if !ok || f == nil {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return strconv.FormatUint(st.Dev, 10) == dev && strconv.FormatUint(st.Ino, 10) == ino
}

// sendLarge passes msg in a sealed memfd, for messages too large for a datagram.
func (w *Writer) sendLarge(msg []byte) error {
	fd, err := unix.MemfdCreate("journal-message", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return fmt.Errorf("journald: memfd: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, msg); err != nil {
		return fmt.Errorf("journald: memfd: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		return fmt.Errorf("journald: memfd: %w", err)
	}
	// The connection is connected, which WriteMsgUnix refuses: sendmsg(2) directly.
	rc, err := w.conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("journald: %w", err)
	}
	var sendErr error
	if err := rc.Write(func(s uintptr) bool {
		sendErr = unix.Sendmsg(int(s), nil, unix.UnixRights(fd), nil, 0)
		return sendErr != unix.EAGAIN
	}); err != nil {
		return fmt.Errorf("journald: %w", err)
	}
	if sendErr != nil {
		return fmt.Errorf("journald: %w", sendErr)
	}
	return nil
}
