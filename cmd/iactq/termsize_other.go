//go:build !unix

package main

import "io"

// terminalSize is unknown here: the view is not cut to fit.
func terminalSize(io.Writer) (cols, rows int) { return 0, 0 }
