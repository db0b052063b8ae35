package adminapi

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// The stub's orphans: "o1" and "o2"; "ref" is referenced by a manifest.
func (stubService) Orphans(context.Context) (RestoreReport, error) {
	return RestoreReport{Node: "n1", Orphans: []Orphan{{FileID: "o1", Shards: 6, Bytes: 10, Disks: []string{"d1"}}, {FileID: "o2"}}}, nil
}

func (stubService) DeleteOrphans(_ context.Context, req OrphansDeleteRequest) (RestoreReport, error) {
	if slices.Contains(req.FileIDs, "ref") {
		return RestoreReport{}, Errorf(CodeConflict, "file ref is referenced")
	}
	rep := RestoreReport{Node: "n1"}
	if len(req.FileIDs) == 1 && req.FileIDs[0] == "o1" {
		rep.Orphans = []Orphan{{FileID: "o2"}}
	}
	return rep, nil
}

// TestOrphansWire carries the orphans' list, their deletion and a refusal over the socket.
func TestOrphansWire(t *testing.T) {
	c := serve(t)
	ctx := context.Background()
	rep, err := c.Orphans(ctx)
	if err != nil || len(rep.Orphans) != 2 || rep.Orphans[0].Bytes != 10 || rep.Orphans[0].Disks[0] != "d1" {
		t.Fatalf("Orphans = %+v, %v", rep, err)
	}
	rep, err = c.DeleteOrphans(ctx, OrphansDeleteRequest{FileIDs: []string{"o1"}})
	if err != nil || len(rep.Orphans) != 1 || rep.Orphans[0].FileID != "o2" {
		t.Fatalf("DeleteOrphans(o1) = %+v, %v", rep, err)
	}
	rep, err = c.DeleteOrphans(ctx, OrphansDeleteRequest{})
	if err != nil || len(rep.Orphans) != 0 {
		t.Fatalf("DeleteOrphans(all) = %+v, %v", rep, err)
	}
	_, err = c.DeleteOrphans(ctx, OrphansDeleteRequest{FileIDs: []string{"ref"}})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeConflict {
		t.Fatalf("DeleteOrphans(ref): %v, want conflict", err)
	}
	_, err = c.DeleteOrphans(ctx, OrphansDeleteRequest{FileIDs: []string{""}})
	if !errors.As(err, &e) || e.Code != CodeBadRequest {
		t.Fatalf("DeleteOrphans(\"\"): %v, want bad_request", err)
	}
}
