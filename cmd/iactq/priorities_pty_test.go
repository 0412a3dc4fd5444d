package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/iact/iactq/internal/waitfor"
)

var ansiCode = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// TestPrioritiesWatchAlignedInATerminal runs `priorities --watch` on a pseudo-terminal,
// colours on, and checks one frame as a person sees it: every cell of a column starts
// where its header does, and no line is wider than the terminal.
func TestPrioritiesWatchAlignedInATerminal(t *testing.T) {
	d, c := setup(t)
	// Queues whose class counts differ in width and in colour (a zero is not painted),
	// so escape codes counted as width would push the columns out of line.
	for _, g := range []struct {
		n   int
		ago string
	}{{12, "2 HOUR"}, {3, "40 MINUTE"}, {120, "1 MINUTE"}} {
		for range g.n {
			d.Exec(t, "INSERT INTO iactq_jobs (kind, queue, scheduled_at) VALUES ('noop', 'default', NOW(6) - INTERVAL "+g.ago+")")
		}
	}
	d.Exec(t, `INSERT INTO iactq_jobs (kind, queue, args, scheduled_at) VALUES
		('dashboard_metrics', 'reports', '{}', NOW(6) - INTERVAL 3 HOUR),
		('call_flow_analysis', 'reports', '{}', NOW(6) - INTERVAL 10 MINUTE)`)
	d.Exec(t, `INSERT INTO iactq_jobs (kind, queue, scheduled_at) VALUES ('health_check', 'maintenance', NOW(6) - INTERVAL 45 MINUTE)`)

	const cols = 72
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	c.env["TERM"] = "xterm-256color"
	var screen syncBuffer
	go func() { _, _ = io.Copy(&screen, ptmx) }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"priorities", "--watch", "--every", "200ms"}, c.getenv, strings.NewReader(""), tty, tty)
	}()

	// A frame starts with the cursor sent home; the second one ends the first.
	waitfor.True(t, 30*time.Second, func() bool { return strings.Count(screen.String(), "\x1b[H") >= 2 },
		func() string { return fmt.Sprintf("no two frames:\n%q", screen.String()) })
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("priorities --watch exited %d:\n%q", code, screen.String())
	}
	tty.Close()

	raw := strings.Split(screen.String(), "\x1b[H")[1]
	for _, code := range []string{"\x1b[1;31m", "\x1b[33m", "\x1b[32m"} {
		if !strings.Contains(raw, code) {
			t.Errorf("colours are on, but %q is not in the frame:\n%q", code, raw)
		}
	}
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(raw, "\r", ""), "\n") {
		lines = append(lines, ansiCode.ReplaceAllString(l, ""))
	}
	for _, l := range lines {
		if n := len([]rune(l)); n > cols {
			t.Errorf("line of %d characters on a %d-column terminal: %q", n, cols, l)
		}
	}
	checkColumns(t, lines, "QUEUE", []string{"QUEUE", "OVERDUE", "URGENT", "NORMAL", "OLDEST", "NEXT URGENT", "NEXT OVERDUE"}, 3)
	checkColumns(t, lines, "ID ", []string{"ID", "KIND", "QUEUE", "STATE", "CLASS", "AGE"}, 10)
	t.Logf("frame as seen (colours stripped):\n%s", strings.Join(lines, "\n"))
}

// checkColumns finds the table whose header starts with prefix and checks that in
// each of its rows (at least minRows) every column's cell begins at its header's
// offset: a space before it and text at it.
func checkColumns(t *testing.T, lines []string, prefix string, headers []string, minRows int) {
	t.Helper()
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			start = i
			break
		}
	}
	if start < 0 {
		t.Errorf("no table with header %q", prefix)
		return
	}
	header := []rune(lines[start])
	var offsets []int
	for _, h := range headers {
		at := strings.Index(string(header), h)
		if at < 0 {
			t.Errorf("no column %q in header %q", h, string(header))
			return
		}
		offsets = append(offsets, len([]rune(string(header)[:at])))
	}
	rows := 0
	for _, l := range lines[start+1:] {
		if strings.TrimSpace(l) == "" {
			break
		}
		rows++
		r := []rune(l)
		for i, off := range offsets {
			if off >= len(r) || r[off] == ' ' || (off > 0 && r[off-1] != ' ') {
				t.Errorf("column %s does not start at offset %d in row %q", headers[i], off, l)
			}
		}
	}
	if rows < minRows {
		t.Errorf("table %q has %d rows, want at least %d", prefix, rows, minRows)
	}
}

func TestCutVisible(t *testing.T) {
	red := classColor["OVERDUE"]
	for _, tc := range []struct {
		in    string
		width int
		want  string
	}{
		{"abcdef", 4, "abcd" + colorReset},
		{"abc", 4, "abc"},
		{"abc", 0, "abc"},
		{red + "abcdef" + colorReset, 3, red + "abc" + colorReset},
		{red + "ab" + colorReset + "cd", 4, red + "ab" + colorReset + "cd"},
		{"ééé—x", 4, "ééé—" + colorReset},
	} {
		if got := cutVisible(tc.in, tc.width); got != tc.want {
			t.Errorf("cutVisible(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
		}
	}
}
