package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"valise/adminapi"
)

// TestPrintOrphansAndRestore checks the lines scripts read: one "orphan:" line per orphan
// after the count, and status's restore block only while a restore has something to say.
func TestPrintOrphansAndRestore(t *testing.T) {
	rep := adminapi.RestoreReport{
		BackupFile: "b.age", BackupIndex: 42, Node: "n-1", RestoredAt: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
		Complete: 3, Healable: 1, Waiting: 2, Lost: 1, WaitingNodes: []string{"n-2"},
		LostFiles: []adminapi.ReportFile{{ID: "f1", Name: "a.pdf", Send: "s1"}},
		Orphans:   []adminapi.Orphan{{FileID: "o1", Shards: 6, Bytes: 2048, Disks: []string{"n-1-d1", "n-2-d1"}}},
	}
	var out bytes.Buffer
	if err := printOrphans(&out, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"orphans: 1 (2.0 KiB)\n", "orphan: o1 shards=6 size=2.0 KiB disks=n-1-d1,n-2-d1\n", "appliance orphans delete"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("orphans printed\n%s\nwithout %q", out.String(), want)
		}
	}
	out.Reset()
	if err := printOrphans(&out, adminapi.RestoreReport{}); err != nil || out.String() != "orphans: 0 (0 B)\n" {
		t.Errorf("no orphans printed %q, %v", out.String(), err)
	}

	out.Reset()
	printRestoreSummary(&out, &rep)
	for _, want := range []string{"from b.age (index 42) on n-1", "3 complete, 1 healable, 2 waiting, 1 lost", "for nodes n-2", `lost      f1 "a.pdf" send s1`, "orphans   1 files"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("restore block\n%s\nwithout %q", out.String(), want)
		}
	}
	out.Reset()
	printRestoreSummary(&out, nil)
	if out.Len() != 0 {
		t.Errorf("no restore: printed %q", out.String())
	}
}
