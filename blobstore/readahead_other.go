//go:build !(linux && (amd64 || arm64))

package blobstore

// WillNeed is a no-op where posix_fadvise is not wired: the kernel's own readahead remains.
func (f *dirFile) WillNeed(off, n int64) {}

// StartWriteback is a no-op where sync_file_range is not wired: Sync writes everything.
func (f *dirFile) StartWriteback(off, n int64) {}
