// Package journald writes zerolog's JSON lines to systemd's journal over its native
// protocol (systemd.journal-fields(7), "Native Journal Protocol"), each field of a
// line as a journal field of its own, named with a prefix: job_id becomes IACTQ_JOB_ID,
// which `journalctl IACTQ_JOB_ID=42` finds. The prefix keeps them apart from the
// journal's own fields (systemd's JOB_ID is the id of a unit's job).
package journald

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Socket is where journald listens for native messages.
const Socket = "/run/systemd/journal/socket"

// Writer sends each zerolog JSON line written to it as one journal entry: MESSAGE is
// the line's message followed by its fields as key=value (what `journalctl` shows),
// PRIORITY follows its level, and every field is also a journal field named
// Prefix + the key in upper case. Lines it cannot send go to Fallback unchanged.
type Writer struct {
	// Prefix goes before every field name, e.g. "IACTQ_".
	Prefix string
	// Identifier is SYSLOG_IDENTIFIER (the name `journalctl` shows before [pid]).
	Identifier string
	// Fallback receives what cannot be sent (not JSON, or journald gone).
	Fallback io.Writer

	mu   sync.Mutex
	conn *net.UnixConn
}

// New connects to the journal at socket (Socket on a real system).
func New(socket, prefix, identifier string, fallback io.Writer) (*Writer, error) {
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("journald: %w", err)
	}
	return &Writer{Prefix: prefix, Identifier: identifier, Fallback: fallback, conn: conn}, nil
}

// Close closes the connection.
func (w *Writer) Close() error { return w.conn.Close() }

// Write implements io.Writer for one zerolog line.
func (w *Writer) Write(p []byte) (int, error) {
	msg, err := w.Encode(p)
	if err == nil {
		err = w.send(msg)
	}
	if err != nil && w.Fallback != nil {
		if _, ferr := w.Fallback.Write(p); ferr != nil {
			return 0, errors.Join(err, ferr)
		}
		return len(p), nil
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// priorities maps zerolog's levels to syslog's.
var priorities = map[string]string{
	"trace": "7", "debug": "7", "info": "6", "warn": "5", "error": "3", "fatal": "2", "panic": "0",
}

// Encode turns one zerolog JSON line into a native journal message.
func (w *Writer) Encode(line []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var event map[string]any
	if err := dec.Decode(&event); err != nil {
		return nil, fmt.Errorf("journald: not a JSON log line: %w", err)
	}
	keys := make([]string, 0, len(event))
	for k := range event {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	text, _ := event["message"].(string)
	var pairs []string
	prio := "6"
	for _, k := range keys {
		v := value(event[k])
		switch k {
		case "message":
			continue
		case "time":
			continue // the journal stamps each entry itself
		case "level":
			if p, ok := priorities[v]; ok {
				prio = p
			}
		default:
			pairs = append(pairs, k+"="+quote(v))
		}
		field(&b, w.Prefix+fieldName(k), v)
	}
	if len(pairs) > 0 {
		text = strings.TrimSpace(text + " " + strings.Join(pairs, " "))
	}
	field(&b, "MESSAGE", text)
	field(&b, "PRIORITY", prio)
	if w.Identifier != "" {
		field(&b, "SYSLOG_IDENTIFIER", w.Identifier)
	}
	return b.Bytes(), nil
}

// value is a JSON value as a journal field's text: strings as they are, the rest as JSON.
func value(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// quote quotes v for MESSAGE's key=value pairs when it holds spaces or quotes.
func quote(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\n\"=") {
		return strconv.Quote(v)
	}
	return v
}

// fieldName is k as a journal field name: upper case, [A-Z0-9_] only.
func fieldName(k string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, k)
}

// field appends one field: NAME=value, or for a value with a newline NAME, a newline,
// its length as 64-bit little endian, the value and a newline.
func field(b *bytes.Buffer, name, v string) {
	if !strings.ContainsRune(v, '\n') {
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(v)
		b.WriteByte('\n')
		return
	}
	b.WriteString(name)
	b.WriteByte('\n')
	_ = binary.Write(b, binary.LittleEndian, uint64(len(v)))
	b.WriteString(v)
	b.WriteByte('\n')
}

// send sends msg as one datagram, or, when it is too large for one, in a sealed
// memfd passed to journald (as sd_journal_send does).
func (w *Writer) send(msg []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.conn.Write(msg)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EMSGSIZE) && !errors.Is(err, syscall.ENOBUFS) {
		return fmt.Errorf("journald: %w", err)
	}
	return w.sendLarge(msg)
}
