package blobstore_test

import (
	"testing"

	"valise/blobstore"
	"valise/blobstore/blobtest"
)

// TestDirDiskContract runs the Disk contract against the directory disk every node uses
// (issue 17 item 5).
func TestDirDiskContract(t *testing.T) {
	blobtest.DiskContract(t, func(t *testing.T) blobstore.Disk {
		d, err := blobstore.NewDirDisk("d0", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}
