//go:build unix

package jobs

import (
	"os/exec"
	"syscall"
)

// deployKillGroup runs cmd in its own process group and kills the whole group when
// its context ends, so that a shell's children die with it.
func deployKillGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
