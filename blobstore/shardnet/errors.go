package shardnet

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"syscall"

	"valise/blobstore"
)

// kindError returns the sentinel a RemoteError of kind wraps.
func kindError(kind byte) error {
	switch kind {
	case kindNotExist:
		return fs.ErrNotExist
	case kindExist:
		return fs.ErrExist
	case kindPermission:
		return fs.ErrPermission
	case kindUnknownDisk:
		return ErrUnknownDisk
	case kindProtocol, kindNoFile:
		return ErrProtocol
	case kindBusy:
		return ErrBusy
	case kindStale:
		return blobstore.ErrStaleGeneration
	}
	return nil
}

// errnoError returns the errno a RemoteError carries: the nodes of a cluster run the same
// operating system, so a number means the same on both sides.
func errnoError(n uint32) error { return syscall.Errno(n) }

// errorKind classifies a local error for the wire.
func errorKind(err error) byte {
	switch {
	case errors.Is(err, ErrUnknownDisk):
		return kindUnknownDisk
	case errors.Is(err, ErrProtocol):
		return kindProtocol
	case errors.Is(err, errNoFile):
		return kindNoFile
	case errors.Is(err, ErrBusy):
		return kindBusy
	case errors.Is(err, blobstore.ErrStaleGeneration):
		return kindStale
	case errors.Is(err, fs.ErrNotExist):
		return kindNotExist
	case errors.Is(err, fs.ErrExist):
		return kindExist
	case errors.Is(err, fs.ErrPermission):
		return kindPermission
	}
	return kindOther
}

// errNoFile is returned for a file call on a connection with no open file, or an open on a
// connection that has one.
var errNoFile = errors.New("shardnet: no open file on this connection")

// appendError appends a statusError frame for err.
func appendError(out []byte, err error) []byte {
	out, start := beginFrame(out, statusError)
	out = append(out, errorKind(err))
	var errno uint32
	var en syscall.Errno
	if errors.As(err, &en) && uint64(en) <= 0xffffffff {
		errno = uint32(en)
	}
	out = binary.BigEndian.AppendUint32(out, errno)
	text := err.Error()
	if len(text) > maxErrText {
		text = text[:maxErrText]
	}
	out = appendString(out, text)
	return endFrame(out, start)
}
