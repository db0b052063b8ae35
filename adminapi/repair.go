package adminapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Routes of the repair jobs (heal, scrub, drain). Each answers with a stream of JobEvent, one
// JSON object per line (NDJSON): progress lines while the job runs, the last one carrying the
// final JobProgress (Done set).
const (
	// PathHeal answers POST JobRequest: run (or join) the heal job now.
	PathHeal = "/v1/heal"
	// PathScrub answers POST JobRequest: run (or join) the scrub job now.
	PathScrub = "/v1/scrub"
	// PathDrain answers POST DrainRequest: drain a node (cluster remove, leave).
	PathDrain = "/v1/drain"
	// PathRebalance answers POST JobRequest: run (or join) the rebalance job now.
	PathRebalance = "/v1/rebalance"
)

// Job names, in JobProgress.Job.
const (
	JobHeal  = "heal"
	JobScrub = "scrub"
	JobDrain = "drain"
	// JobRebalance rewrites the files whose layout or placement is not what new files get.
	JobRebalance = "rebalance"
)

// JobRequest starts a heal or a scrub. It has no field yet; it is an object so fields can be
// added.
type JobRequest struct{}

// DrainRequest drains a node: every shard on its disks is rebuilt elsewhere, then the node is
// marked removed. Node empty means the node answering (appliance leave).
type DrainRequest struct {
	Node string `json:"node,omitempty"`
}

// JobProgress is where a repair job stands, in the stream of a run and in status.
type JobProgress struct {
	Job     string `json:"job"`               // JobHeal, JobScrub, JobDrain or JobRebalance
	Trigger string `json:"trigger,omitempty"` // "admin", "schedule", "disk replaced", "disk failed", "drain NODE"
	Running bool   `json:"running"`
	Done    bool   `json:"done"` // the run ended (see Error)
	// Started and Finished are RFC 3339 times ("" when not yet).
	Started  string `json:"started,omitempty"`
	Finished string `json:"finished,omitempty"`
	// FilesDone of FilesTotal files were checked, BytesDone of BytesTotal bytes.
	FilesDone  int64 `json:"files_done"`
	FilesTotal int64 `json:"files_total"`
	BytesDone  int64 `json:"bytes_done"`
	BytesTotal int64 `json:"bytes_total"`
	// ETASeconds is the estimated time left, -1 when unknown.
	ETASeconds int64 `json:"eta_seconds"`
	// Repaired files had a shard rebuilt; Moved had a shard rebuilt on another disk (rebalance:
	// were rewritten under the current layout and placement); Failed could not be repaired
	// (more shards lost than the layout survives, no usable disk) or moved.
	Repaired int64 `json:"repaired"`
	Moved    int64 `json:"moved"`
	Failed   int64 `json:"failed"`
	// Failures names up to 20 failed files with the reason.
	Failures []string `json:"failures,omitempty"`
	// Error says why the run stopped early, or why a drain is not finished.
	Error string `json:"error,omitempty"`
}

// JobEvent is one line of a job's stream.
type JobEvent struct {
	Progress *JobProgress `json:"progress,omitempty"`
	Result   *JobProgress `json:"result,omitempty"`
}

// RepairService is what the node implements for the repair jobs; NewHandler serves its routes
// when the Service given implements it. A call runs the job or joins the one running (the
// same job); another job running is refused with CodeConflict. progress is called from the
// calling goroutine; the job goes on when the caller leaves.
type RepairService interface {
	// Repair runs or joins the heal (job JobHeal), scrub (JobScrub) or rebalance
	// (JobRebalance) job.
	Repair(ctx context.Context, job string, progress func(JobProgress)) (JobProgress, error)
	// Drain drains a node and marks it removed; CodeInvalidValue when the other nodes cannot
	// hold the files, CodeNotFound for an unknown node.
	Drain(ctx context.Context, req DrainRequest, progress func(JobProgress)) (JobProgress, error)
}

// handleRepair registers the repair routes on mux when svc implements RepairService.
func (h *handler) handleRepair(mux *http.ServeMux) {
	rs, ok := h.svc.(RepairService)
	if !ok {
		return
	}
	for path, job := range map[string]string{PathHeal: JobHeal, PathScrub: JobScrub, PathRebalance: JobRebalance} {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			var req JobRequest
			if !h.decode(w, r, &req) {
				return
			}
			h.jobStream(w, r, func(p func(JobProgress)) (JobProgress, error) { return rs.Repair(r.Context(), job, p) })
		})
	}
	mux.HandleFunc("POST "+PathDrain, func(w http.ResponseWriter, r *http.Request) {
		var req DrainRequest
		if !h.decode(w, r, &req) {
			return
		}
		h.jobStream(w, r, func(p func(JobProgress)) (JobProgress, error) { return rs.Drain(r.Context(), req, p) })
	})
}

// jobStream runs a job call, streaming its progress as NDJSON.
func (h *handler) jobStream(w http.ResponseWriter, r *http.Request, run func(func(JobProgress)) (JobProgress, error)) {
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	started := false
	send := func(ev JobEvent) {
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			started = true
		}
		if err := enc.Encode(ev); err != nil {
			return // the client left; the job goes on
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	res, err := run(func(p JobProgress) { send(JobEvent{Progress: &p}) })
	if err != nil {
		if !started {
			h.fail(w, r, err)
			return
		}
		res.Done, res.Error = true, publicMessage(err)
	}
	send(JobEvent{Result: &res})
}

// Heal runs (or joins) the heal job on the node, calling progress (if not nil) as it goes,
// and returns its final report.
func (c *Client) Heal(ctx context.Context, progress func(JobProgress)) (JobProgress, error) {
	return c.job(ctx, PathHeal, JobRequest{}, progress)
}

// Scrub runs (or joins) the scrub job, as Heal does.
func (c *Client) Scrub(ctx context.Context, progress func(JobProgress)) (JobProgress, error) {
	return c.job(ctx, PathScrub, JobRequest{}, progress)
}

// Rebalance runs (or joins) the rebalance job, as Heal does.
func (c *Client) Rebalance(ctx context.Context, progress func(JobProgress)) (JobProgress, error) {
	return c.job(ctx, PathRebalance, JobRequest{}, progress)
}

// Drain drains a node ("" the node answering), as Heal does.
func (c *Client) Drain(ctx context.Context, req DrainRequest, progress func(JobProgress)) (JobProgress, error) {
	return c.job(ctx, PathDrain, req, progress)
}

// job calls a job route and reads its stream to the result.
func (c *Client) job(ctx context.Context, path string, req any, progress func(JobProgress)) (JobProgress, error) {
	return callStream(ctx, c, path, req, path, func(ev JobEvent) *JobProgress {
		if ev.Progress != nil && progress != nil {
			progress(*ev.Progress)
		}
		return ev.Result
	}, fmt.Errorf("the node closed the %s stream before its result: it stopped or crashed (the job goes on if the node still runs: see appliance status)", path))
}

// callStream posts in to path and reads the NDJSON events of the reply into each until one
// gives the result; closed is the error when the stream ends before it.
func callStream[E, R any](ctx context.Context, c *Client, path string, in any, what string, each func(E) *R, closed error) (R, error) {
	var zero R
	resp, err := c.do(ctx, http.MethodPost, path, in)
	if err != nil {
		return zero, err
	}
	defer resp.Body.Close()
	var res *R
	err = readNDJSON(resp.Body, what, func(ev E) bool {
		res = each(ev)
		return res != nil
	})
	if err != nil {
		return zero, err
	}
	if res == nil {
		return zero, closed
	}
	return *res, nil
}

// readNDJSON decodes the events of a stream (one JSON object per line) from r into each until
// each returns true. A stream that ends first is no error: the caller sees no last event.
func readNDJSON[E any](r io.Reader, path string, each func(E) (last bool)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var ev E
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("read %s stream: %w", path, err)
		}
		if each(ev) {
			return nil
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("read %s stream: %w", path, err)
	}
	return nil
}
