package adminapi

import (
	"context"
	"errors"
	"testing"
)

// repairStub is a stubService that also runs repair jobs: two progress lines then the result;
// scrub is refused as if a heal were running; a drain of "late" fails after it started.
type repairStub struct{ stubService }

func (repairStub) Repair(_ context.Context, job string, progress func(JobProgress)) (JobProgress, error) {
	if job == JobScrub {
		return JobProgress{}, Errorf(CodeConflict, "a heal is running: wait for it to end")
	}
	progress(JobProgress{Job: job, Running: true, FilesTotal: 2, FilesDone: 1})
	progress(JobProgress{Job: job, Running: true, FilesTotal: 2, FilesDone: 2})
	return JobProgress{Job: job, Done: true, FilesTotal: 2, FilesDone: 2, Repaired: 1}, nil
}

func (repairStub) Drain(_ context.Context, req DrainRequest, progress func(JobProgress)) (JobProgress, error) {
	if req.Node == "ghost" {
		return JobProgress{}, Errorf(CodeNotFound, "no node ghost")
	}
	progress(JobProgress{Job: JobDrain, Running: true, Trigger: "drain " + req.Node})
	if req.Node == "late" {
		return JobProgress{}, errors.New("disk gone")
	}
	return JobProgress{Job: JobDrain, Done: true, Trigger: "drain " + req.Node}, nil
}

// TestRepairStream checks the repair routes end to end over a socket: progress lines reach
// the callback before the result, refusals keep their code, and an error once the stream
// started becomes the result's Error.
func TestRepairStream(t *testing.T) {
	c := serveService(t, repairStub{})
	ctx := context.Background()

	var lines []JobProgress
	res, err := c.Heal(ctx, func(p JobProgress) { lines = append(lines, p) })
	if err != nil || !res.Done || res.Repaired != 1 || len(lines) != 2 || lines[1].FilesDone != 2 {
		t.Fatalf("heal = %+v, lines %+v, %v", res, lines, err)
	}
	var e *Error
	if _, err := c.Scrub(ctx, nil); !errors.As(err, &e) || e.Code != CodeConflict {
		t.Fatalf("refused scrub = %v, want a conflict", err)
	}
	if _, err := c.Drain(ctx, DrainRequest{Node: "ghost"}, nil); !errors.As(err, &e) || e.Code != CodeNotFound {
		t.Fatalf("drain of an unknown node = %v, want not found", err)
	}
	res, err = c.Drain(ctx, DrainRequest{Node: "late"}, nil)
	if err != nil || !res.Done || res.Error != "disk gone" {
		t.Fatalf("drain failing midway = %+v, %v", res, err)
	}
	// A Service without the repair methods has no repair routes.
	plain := serve(t)
	if _, err := plain.Heal(ctx, nil); !errors.As(err, &e) || e.Code != CodeNotFound {
		t.Fatalf("heal on a service without repair = %v, want not found", err)
	}
}
