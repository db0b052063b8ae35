package node

import (
	"fmt"
	"net"
	"sync"
	"syscall"
)

// umaskMu serialises listenPrivateUnix's umask changes. The umask is the process's own state,
// so the lock that guards changing it must be process-wide too: two overlapping changes
// would leave the wrong umask behind.
var umaskMu sync.Mutex

// listenPrivateUnix listens on a Unix socket at path created with mode 0700 at most: the
// umask is 0077 while bind(2) creates the file, so no other user can connect even in the
// instant before a chmod (issue 16 item 9). Files other goroutines create meanwhile get the
// same stricter umask, never a looser one.
func listenPrivateUnix(path string) (net.Listener, error) {
	umaskMu.Lock()
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	umaskMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return ln, nil
}
