package adminapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The journal's routes (issue 20). JournalService's handlers are in journal_server.go.
const (
	// PathJournal answers GET with a JournalPage, newest first; its query is a JournalQuery:
	// "action" (a prefix such as "user." or a full action), "actor" (substring), "since",
	// "until" (RFC 3339), "q" (full text over actor, action, target and details),
	// "before" (only entries with a smaller Seq: the next page) and "limit" (default 100,
	// at most 1000).
	PathJournal = "/v1/journal"
	// PathJournalTail answers GET with a stream of JournalEntry, one JSON object per line
	// (NDJSON), for every entry after "after" that matches the same filters, then each new
	// one as it is applied, until the client leaves.
	PathJournalTail = "/v1/journal/tail"
	// PathJournalExport answers GET with the matching entries as CSV (text/csv, oldest
	// first, a header line: seq,time,actor,action,target,details,hash), streamed.
	PathJournalExport = "/v1/journal/export"
)

// JournalQuery filters the journal.
type JournalQuery struct {
	Action string
	Actor  string
	Since  time.Time
	Until  time.Time
	Query  string
	Before uint64 // PathJournal: entries with Seq < Before (0: from the newest)
	After  uint64 // PathJournalTail: entries with Seq > After
	Limit  int
}

func (q JournalQuery) values() url.Values {
	v := url.Values{}
	setQuery(v, "action", q.Action)
	setQuery(v, "actor", q.Actor)
	setTime(v, "since", q.Since)
	setTime(v, "until", q.Until)
	setQuery(v, "q", q.Query)
	if q.Before > 0 {
		v.Set("before", strconv.FormatUint(q.Before, 10))
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// JournalEntry is one link of the journal.
type JournalEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Details string    `json:"details,omitempty"` // the entry's details (JSON text), secrets never in them
	Hash    string    `json:"hash"`              // hex
}

// JournalPage is one page of the journal, newest first.
type JournalPage struct {
	Entries []JournalEntry `json:"entries"`
	// Next is the Before of the next (older) page; 0 when this page reached the start.
	Next uint64 `json:"next"`
	// Head is the newest entry's Seq in the whole journal.
	Head uint64 `json:"head"`
}

// JournalService is what the node implements for the journal's routes; NewHandler serves
// them when the Service given implements it. Reading the journal is itself journalled for
// the export (who took a copy), not for browsing.
type JournalService interface {
	// Journal returns one page of entries matching q, newest first.
	Journal(ctx context.Context, q JournalQuery) (JournalPage, error)
	// TailJournal calls fn, from the calling goroutine, for each entry matching q after
	// q.After, then for each new one as it is applied, until ctx ends (then it returns nil)
	// or fn returns an error (returned).
	TailJournal(ctx context.Context, q JournalQuery, fn func(JournalEntry) error) error
	// ExportJournal writes the entries matching q as CSV to w, oldest first, and journals
	// the export with the caller.
	ExportJournal(ctx context.Context, q JournalQuery, w io.Writer) error
}

// Journal returns one page of the journal.
func (c *Client) Journal(ctx context.Context, q JournalQuery) (JournalPage, error) {
	return call[JournalPage](ctx, c, http.MethodGet, withQuery(PathJournal, q.values()), nil)
}

// TailJournal calls fn for each entry matching q after q.After, then for each new one, until
// ctx ends (nil), fn fails (its error) or the connection is lost (an error).
func (c *Client) TailJournal(ctx context.Context, q JournalQuery, fn func(JournalEntry) error) error {
	resp, err := c.do(ctx, http.MethodGet, withQuery(PathJournalTail, q.values()), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var e JournalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("decode journal tail: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("journal tail: %w", err)
	}
	return fmt.Errorf("the node ended the journal tail: it stopped or restarts")
}

// ExportJournal copies the entries matching q as CSV to w and returns the bytes written.
func (c *Client) ExportJournal(ctx context.Context, q JournalQuery, w io.Writer) (int64, error) {
	resp, err := c.do(ctx, http.MethodGet, withQuery(PathJournalExport, q.values()), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("journal export: %w", err)
	}
	return n, nil
}
