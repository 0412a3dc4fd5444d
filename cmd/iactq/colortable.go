package main

import (
	"io"
	"strings"
	"unicode/utf8"
)

// cell is a table cell whose colour (an ANSI escape sequence, or "") is applied after
// the columns are aligned: tabwriter would count the escape codes as width and push
// the coloured cells' columns out of line.
type cell struct {
	text  string
	color string
}

// writeColorTable writes rows aligned like newTable (columns two spaces apart, the
// last one unpadded), each cell painted with its colour when color is set.
func writeColorTable(w io.Writer, rows [][]cell, color bool) error {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			if color && c.color != "" {
				b.WriteString(c.color + c.text + colorReset)
			} else {
				b.WriteString(c.text)
			}
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text)+2))
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cutToWidth cuts s to at most width characters (0: no limit).
func cutToWidth(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	return string([]rune(s)[:width])
}

// cutVisible cuts a line that may hold ANSI colour codes to at most width visible
// characters (0: no limit), keeping the codes and resetting the colour when it cuts.
func cutVisible(line string, width int) string {
	if width <= 0 {
		return line
	}
	var b strings.Builder
	visible := 0
	for i := 0; i < len(line); {
		if line[i] == 0x1b {
			// An escape sequence: ESC [ parameters final-byte.
			j := i + 1
			if j < len(line) && line[j] == '[' {
				j++
				for j < len(line) && (line[j] < 0x40 || line[j] > 0x7e) {
					j++
				}
				j++
			}
			j = min(j, len(line))
			b.WriteString(line[i:j])
			i = j
			continue
		}
		if visible == width {
			b.WriteString(colorReset)
			return b.String()
		}
		r, size := utf8.DecodeRuneInString(line[i:])
		b.WriteRune(r)
		visible++
		i += size
	}
	return b.String()
}
