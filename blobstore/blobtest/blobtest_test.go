package blobtest_test

import (
	"testing"

	"valise/blobstore"
	"valise/blobstore/blobtest"
)

// TestMemDiskContract runs the Disk contract against MemDisk (issue 17 item 5). DiscardDisk
// keeps nothing on purpose (it measures the write pipeline alone) and so is not a Disk a
// store can read back: it does not run the contract.
func TestMemDiskContract(t *testing.T) {
	blobtest.DiskContract(t, func(*testing.T) blobstore.Disk { return blobtest.NewMemDisk("m0", 0) })
}

// TestFaultDiskContract runs the Disk contract against a FaultDisk with no fault set, over a
// MemDisk: a wrapper that fails nothing must be the disk it wraps.
func TestFaultDiskContract(t *testing.T) {
	blobtest.DiskContract(t, func(*testing.T) blobstore.Disk { return blobtest.NewFaultDisk(blobtest.NewMemDisk("m0", 0)) })
}
