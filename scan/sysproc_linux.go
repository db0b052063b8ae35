//go:build linux

package scan

import "syscall"

// sysProcAttr makes the kernel kill clamd when its supervisor's thread ends, so a crashed node
// leaves no orphan clamd holding the socket.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
