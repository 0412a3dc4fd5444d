//go:build !unix

package jobs

import "os/exec"

// deployKillGroup: off unix, exec's default (kill the process) is all there is.
func deployKillGroup(*exec.Cmd) {}
