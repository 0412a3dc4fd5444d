package journald

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// parse decodes a native journal message into its fields.
func parse(t *testing.T, msg []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for len(msg) > 0 {
		nl := bytes.IndexByte(msg, '\n')
		if nl < 0 {
			t.Fatalf("unterminated field %q", msg)
		}
		line := msg[:nl]
		if k, v, ok := bytes.Cut(line, []byte("=")); ok {
			out[string(k)] = string(v)
			msg = msg[nl+1:]
			continue
		}
		n := binary.LittleEndian.Uint64(msg[nl+1 : nl+9])
		out[string(line)] = string(msg[nl+9 : nl+9+int(n)])
		if msg[nl+9+int(n)] != '\n' {
			t.Fatalf("binary field %s not followed by a newline", line)
		}
		msg = msg[nl+10+int(n):]
	}
	return out
}

// fakeJournal listens like journald and returns each datagram (or memfd) received.
func fakeJournal(t *testing.T) (string, <-chan []byte) {
	t.Helper()
	dir, err := os.MkdirTemp("", "jd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "socket")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadBuffer(8 << 20)
	ch := make(chan []byte, 16)
	go func() {
		buf, oob := make([]byte, 1<<20), make([]byte, 1024)
		for {
			n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			if n > 0 {
				ch <- append([]byte(nil), buf[:n]...)
				continue
			}
			msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			fds, _ := unix.ParseUnixRights(&msgs[0])
			f := os.NewFile(uintptr(fds[0]), "memfd")
			var b bytes.Buffer
			_, _ = f.Seek(0, 0)
			_, _ = b.ReadFrom(f)
			f.Close()
			ch <- b.Bytes()
		}
	}()
	return path, ch
}

func receive(t *testing.T, ch <-chan []byte) []byte {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
		return nil
	}
}

// TestJobLineFields: a job's log line arrives as one entry whose fields carry the
// IACTQ_ prefix (never systemd's own JOB_ID), with MESSAGE, PRIORITY and the
// identifier; multi-line values and lines too large for a datagram arrive whole.
func TestJobLineFields(t *testing.T) {
	t.Parallel()
	path, ch := fakeJournal(t)
	var fallback bytes.Buffer
	w, err := New(path, "IACTQ_", "iactq", &fallback)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	line := `{"level":"warn","outcome":"retryable","error":"boom\nsecond line","job_id":42,"kind":"noop","queue":"default","attempt":1,"time":"2026-12-03T16:00:00Z","message":"job failed, will retry"}` + "\n"
	if n, err := w.Write([]byte(line)); err != nil || n != len(line) {
		t.Fatalf("write: %d %v", n, err)
	}
	f := parse(t, receive(t, ch))
	want := map[string]string{
		"IACTQ_JOB_ID": "42", "IACTQ_KIND": "noop", "IACTQ_QUEUE": "default", "IACTQ_ATTEMPT": "1",
		"IACTQ_OUTCOME": "retryable", "IACTQ_LEVEL": "warn", "IACTQ_ERROR": "boom\nsecond line",
		"PRIORITY": "5", "SYSLOG_IDENTIFIER": "iactq",
		"MESSAGE": `job failed, will retry attempt=1 error="boom\nsecond line" job_id=42 kind=noop outcome=retryable queue=default`,
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
	if _, ok := f["JOB_ID"]; ok {
		t.Error("JOB_ID set: that is systemd's own field")
	}
	if _, ok := f["IACTQ_TIME"]; ok {
		t.Error("the time is a field: the journal stamps entries itself")
	}

	// Larger than a datagram may be: sent in a memfd.
	big := `{"level":"info","kind":"report","message":"` + strings.Repeat("x", 4<<20) + `"}`
	if _, err := w.Write([]byte(big)); err != nil {
		t.Fatal(err)
	}
	if f := parse(t, receive(t, ch)); len(f["MESSAGE"]) < 4<<20 || f["IACTQ_KIND"] != "report" {
		t.Errorf("large entry: MESSAGE of %d bytes, kind %q", len(f["MESSAGE"]), f["IACTQ_KIND"])
	}
	// Not JSON: written to the fallback unchanged, not lost.
	if _, err := w.Write([]byte("plain text\n")); err != nil {
		t.Fatal(err)
	}
	if fallback.String() != "plain text\n" {
		t.Errorf("fallback got %q", fallback.String())
	}
}

// TestIsJournalStream compares JOURNAL_STREAM with the file's device and inode.
func TestIsJournalStream(t *testing.T) {
	t.Parallel()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	self := strings.Join([]string{uitoa(st.Dev), uitoa(st.Ino)}, ":")
	if !IsJournalStream(self, f) {
		t.Errorf("%s not recognised", self)
	}
	for _, other := range []string{"", "1:2", uitoa(st.Dev) + ":" + uitoa(st.Ino+1), "garbage"} {
		if IsJournalStream(other, f) {
			t.Errorf("%q taken for the journal", other)
		}
	}
}

func uitoa(v uint64) string { return strconv.FormatUint(v, 10) }
