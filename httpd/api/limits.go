package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"valise/internal/membudget"
	"valise/transfer"
)

// admit reserves the memory of one download (or zip) in Deps.Gate before its pipeline is
// allocated, counted against the link (its recipient) and the client's address, so that one
// recipient's or one address's many slow downloads cannot take the whole budget (issue 16
// item 5). Past the gate's wait it answers 503 with Retry-After and returns false. The
// reservation is released when the stream closes (fileStream.CloseWithError, writeZip's end).
func (h *Handler) admit(ctx *fasthttp.RequestCtx, kind membudget.Kind, token, ip string, page bool) (*membudget.Reservation, bool) {
	r, err := h.deps.Gate.Admit(ctx, kind, "link:"+token, "ip:"+ip)
	if err == nil {
		return r, true
	}
	h.logger.Debug("download refused: memory budget exhausted", logErr, err)
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(h.deps.Gate.RetryAfter()))
	h.failLink(ctx, fmt.Errorf("%w: %w", ErrOverloaded, err), page)
	return nil, false
}

// recordRetry is the pause between two attempts to record a download that met a conflict.
const recordRetry = 20 * time.Millisecond

// recordDownload records a download, retrying while the send's record is busy with other
// downloads' (transfer.ErrBusy: concurrent zips of one send each record one download per
// file, and used to lose hundreds of records to conflicts), until ctx ends.
func (h *Handler) recordDownload(ctx context.Context, t transfer.Ticket, served int64) (transfer.Outcome, error) {
	pause := recordRetry
	for {
		out, err := h.deps.Links.FinishDownload(ctx, t, served)
		if !errors.Is(err, transfer.ErrBusy) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}
