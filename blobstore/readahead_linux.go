//go:build linux && (amd64 || arm64)

package blobstore

import "syscall"

// fadvWillNeed is POSIX_FADV_WILLNEED.
const fadvWillNeed = 3

// WillNeed asks the kernel to start reading [off, off+n) into the page cache
// (posix_fadvise WILLNEED): the read is queued and WillNeed returns without waiting for it.
// It is a hint: errors are ignored.
func (f *dirFile) WillNeed(off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, fd, uintptr(off), uintptr(n), fadvWillNeed, 0, 0)
	})
}

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE.
const syncFileRangeWrite = 2

// StartWriteback asks the kernel to start writing [off, off+n) to the disk
// (sync_file_range SYNC_FILE_RANGE_WRITE) without waiting for it: the final fsync then only
// waits for the last pieces. It is a hint: errors are ignored, and durability still comes
// from Sync.
func (f *dirFile) StartWriteback(off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
	})
}
