//go:build large

package node

import "testing"

// TestLargeAdminUsers is TestAdminUsers with the import issue 20 names: 10 000 lines in one
// go, applied in batches that fit the metadata's batch limit. It runs in the large tier,
// without -race, where it takes seconds instead of half a minute.
func TestLargeAdminUsers(t *testing.T) { testAdminUsers(t, 10000) }
