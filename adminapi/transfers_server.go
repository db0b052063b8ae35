package adminapi

import (
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxPageLimit bounds the Limit of one page of transfers or journal entries; defaultLimit is
// the Limit when none is given.
const (
	maxPageLimit = 1000
	defaultLimit = 100
)

// handleTransfers registers the transfers' routes when svc implements TransfersService.
func (h *handler) handleTransfers(mux *http.ServeMux) {
	ts, ok := h.svc.(TransfersService)
	if !ok {
		return
	}
	mux.HandleFunc("GET "+PathTransfers, func(w http.ResponseWriter, r *http.Request) {
		q, err := ParseTransferQuery(r.URL.Query())
		if err != nil {
			h.fail(w, r, err)
			return
		}
		page, err := ts.ListTransfers(r.Context(), q)
		h.reply(w, r, page, err)
	})
	mux.HandleFunc("GET "+PathTransfers+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, err := ts.GetTransfer(r.Context(), r.PathValue("id"))
		h.reply(w, r, d, err)
	})
	mux.HandleFunc("POST "+PathTransfers+"/{id}"+PathTransferRevokeSuffix, func(w http.ResponseWriter, r *http.Request) {
		var req struct{}
		if !h.decode(w, r, &req) {
			return
		}
		info, err := ts.RevokeTransfer(r.Context(), r.PathValue("id"))
		h.reply(w, r, info, err)
	})
}

// Transfer kinds, in TransferInfo.Kind and TransferQuery.Kind.
const (
	TransferKindSend   = "send"
	TransferKindUpload = "upload"
)

// ParseTransferQuery reads a TransferQuery from PathTransfers' query string: CodeBadRequest
// for a value that does not parse.
func ParseTransferQuery(v url.Values) (TransferQuery, error) {
	q := TransferQuery{User: v.Get("user"), Kind: v.Get("kind"), State: v.Get("state"), Query: v.Get("q")}
	switch q.Kind {
	case "", TransferKindSend, TransferKindUpload:
	default:
		return q, Errorf(CodeBadRequest, "kind %q: want send or upload", q.Kind)
	}
	switch q.State {
	case "", TransferActive, TransferWaiting, TransferExpired, TransferRevoked, TransferSuspended, TransferUploading:
	default:
		return q, Errorf(CodeBadRequest, "state %q: want active, waiting, expired, revoked, suspended or uploading", q.State)
	}
	var err error
	if q.Since, err = queryTime(v, "since"); err != nil {
		return q, err
	}
	if q.Until, err = queryTime(v, "until"); err != nil {
		return q, err
	}
	if q.Offset, err = queryInt(v, "offset", 0, 1<<30); err != nil {
		return q, err
	}
	if q.Limit, err = pageLimit(v); err != nil {
		return q, err
	}
	return q, nil
}

// queryTime reads an RFC 3339 time, to the second (as the client sends it); zero when absent.
func queryTime(v url.Values, key string) (time.Time, error) {
	s := v.Get(key)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, Errorf(CodeBadRequest, "%s %q: want an RFC 3339 time such as 2026-01-31T08:00:00Z", key, s)
	}
	return t.UTC().Truncate(time.Second), nil
}

// queryInt reads a whole number in [lo, hi]; 0 when absent.
func queryInt(v url.Values, key string, lo, hi int) (int, error) {
	s := v.Get(key)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, Errorf(CodeBadRequest, "%s %q: want a whole number from %d to %d", key, s, lo, hi)
	}
	return n, nil
}

// pageLimit reads "limit": defaultLimit when absent, at most maxPageLimit.
func pageLimit(v url.Values) (int, error) {
	n, err := queryInt(v, "limit", 1, maxPageLimit)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		n = defaultLimit
	}
	return n, nil
}
