//go:build !linux

package adminapi

import (
	"errors"
	"net"
)

// peerUID is not implemented outside Linux: the caller is journalled with an unknown uid.
func peerUID(*net.UnixConn) (int, error) {
	return 0, errors.New("peer credentials: not supported on this system")
}
