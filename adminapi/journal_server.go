package adminapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"valise/internal/logkey"
)

// handleJournal registers the journal's routes when svc implements JournalService.
func (h *handler) handleJournal(mux *http.ServeMux) {
	js, ok := h.svc.(JournalService)
	if !ok {
		return
	}
	mux.HandleFunc("GET "+PathJournal, func(w http.ResponseWriter, r *http.Request) {
		q, err := ParseJournalQuery(r.URL.Query())
		if err != nil {
			h.fail(w, r, err)
			return
		}
		page, err := js.Journal(r.Context(), q)
		h.reply(w, r, page, err)
	})
	mux.HandleFunc("GET "+PathJournalTail, func(w http.ResponseWriter, r *http.Request) {
		q, err := ParseJournalQuery(r.URL.Query())
		if err != nil {
			h.fail(w, r, err)
			return
		}
		// The headers leave at once: the client waits for them before it reads entries, and
		// there may be none for a long time.
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		flusher, _ := w.(http.Flusher)
		if flusher != nil {
			flusher.Flush()
		}
		enc := json.NewEncoder(w)
		err = js.TailJournal(r.Context(), q, func(e JournalEntry) error {
			if err := enc.Encode(e); err != nil {
				return err // the client left
			}
			if flusher != nil {
				flusher.Flush()
			}
			return nil
		})
		if err != nil && r.Context().Err() == nil {
			h.logger.Warn("journal tail ended", logkey.Err, err)
		}
	})
	mux.HandleFunc("GET "+PathJournalExport, func(w http.ResponseWriter, r *http.Request) {
		q, err := ParseJournalQuery(r.URL.Query())
		if err != nil {
			h.fail(w, r, err)
			return
		}
		lw := &lazyWriter{w: w, start: func() {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="journal.csv"`)
		}}
		err = js.ExportJournal(r.Context(), q, lw)
		if err == nil {
			return
		}
		if !lw.started {
			h.fail(w, r, err)
			return
		}
		// The status line is gone: the CSV ends short, which the log says.
		h.logger.Error("journal export cut short", logkey.Err, err)
	})
}

// lazyWriter calls start before the first byte, so that an error before it can still be
// answered as an Error.
type lazyWriter struct {
	w       io.Writer
	start   func()
	started bool
}

func (lw *lazyWriter) Write(p []byte) (int, error) {
	if !lw.started {
		lw.started = true
		lw.start()
	}
	return lw.w.Write(p)
}

// ParseJournalQuery reads a JournalQuery from the journal routes' query string:
// CodeBadRequest for a value that does not parse.
func ParseJournalQuery(v url.Values) (JournalQuery, error) {
	q := JournalQuery{Action: v.Get("action"), Actor: v.Get("actor"), Query: v.Get("q")}
	for _, f := range []string{q.Action, q.Actor, q.Query} {
		if len(f) > 1024 {
			return q, Errorf(CodeBadRequest, "a journal filter is longer than 1024 bytes")
		}
	}
	var err error
	if q.Since, err = queryTime(v, "since"); err != nil {
		return q, err
	}
	if q.Until, err = queryTime(v, "until"); err != nil {
		return q, err
	}
	if q.Before, err = querySeq(v, "before"); err != nil {
		return q, err
	}
	if q.After, err = querySeq(v, "after"); err != nil {
		return q, err
	}
	if q.Limit, err = pageLimit(v); err != nil {
		return q, err
	}
	return q, nil
}

// querySeq reads a journal sequence number; 0 when absent.
func querySeq(v url.Values, key string) (uint64, error) {
	s := v.Get(key)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, Errorf(CodeBadRequest, "%s %q: want a journal sequence number", key, s)
	}
	return n, nil
}
