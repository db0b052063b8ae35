package node

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestAdminSocketNeverReachableByOthers guards issue 16 item 9: the admin socket was created
// with the process's umask and restricted by a chmod afterwards, so in between any local user
// could connect and drive the node. listenPrivateUnix must create it private: checked right
// after creation, before any chmod, under the loosest umask, and the umask must come back.
func TestAdminSocketNeverReachableByOthers(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(shortDir(t), "admin.sock")
	ln, err := listenPrivateUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("%s is %v, not a socket", path, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Fatalf("admin socket created with mode %#o: group or others can connect", perm)
	}
	if got := syscall.Umask(0); got != 0 {
		t.Fatalf("umask after listen = %#o, want the caller's 0 back", got)
	}
}
