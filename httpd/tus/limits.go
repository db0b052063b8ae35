package tus

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"valise/internal/membudget"
	"valise/userid"
)

// busyDrainLimit is the largest body drained before a 503: a larger one closes the connection
// (draining it would hold the handler as long as the upload itself).
const busyDrainLimit = 64 << 10

// admit reserves the memory of one body's pipeline in Config.Gate, counted against the
// principal and the client's address, so that one user's or one address's many uploads
// cannot take the whole budget (issue 16 item 5). Past the gate's wait it answers 503 with
// Retry-After and returns false; the caller releases the reservation once the backend's
// Write returned.
func (s *Server) admit(ctx *fasthttp.RequestCtx, principal userid.ID) (*membudget.Reservation, bool) {
	r, err := s.cfg.Gate.Admit(ctx, membudget.Upload, "user:"+string(principal), "ip:"+ctx.RemoteIP().String())
	if err == nil {
		return r, true
	}
	s.logger.Debug("upload refused: memory budget exhausted", logErr, err)
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(s.cfg.Gate.RetryAfter()))
	if cl := ctx.Request.Header.ContentLength(); cl > busyDrainLimit || cl == -1 {
		ctx.SetConnectionClose()
		s.answer(ctx, errBusy)
		return nil, false
	}
	s.fail(ctx, errBusy)
	return nil, false
}
