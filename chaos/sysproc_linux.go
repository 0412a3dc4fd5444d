package chaos

import "syscall"

// procAttr makes worker processes die with the runner (a crashed test leaves none).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
