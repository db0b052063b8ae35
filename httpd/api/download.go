package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zip"
	"github.com/valyala/fasthttp"

	"valise/httpd/linkgrant"
	"valise/internal/membudget"
	"valise/transfer"
)

// serveDownload serves one file of a link: GET streams it (whole, or the one range asked
// for), HEAD only answers the headers. ETag is the file's SHA-256, so a client resuming with
// If-Range gets the rest only of the very same file.
func (h *Handler) serveDownload(ctx *fasthttp.RequestCtx, c call) {
	page := wantsHTML(ctx)
	ip, ok := h.allowLink(ctx, page)
	if !ok {
		return
	}
	token, fileID := c.params["token"], transfer.FileID(c.params["fileID"])
	var res *membudget.Reservation // released when the stream closes, or on the way out below
	if !ctx.IsHead() {
		if res, ok = h.admit(ctx, membudget.Download, token, ip, page); !ok {
			return
		}
	}
	streaming := false
	defer func() {
		if !streaming {
			res.Release()
		}
	}()
	rangeHdr := string(ctx.Request.Header.Peek("Range"))
	t, err := h.deps.Links.StartDownload(c, token, linkgrant.From(ctx), fileID, ip, rangeHdr != "")
	if err != nil {
		h.failDownload(ctx, token, err, page)
		return
	}
	size := t.File.Size
	etag := `"` + t.File.SHA256 + `"`
	r, kind := parseRange(rangeHdr, size)
	if ir := string(ctx.Request.Header.Peek("If-Range")); ir != "" && ir != etag {
		kind = rangeNone // another version (or a date): the whole file
	}
	hd := &ctx.Response.Header
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("ETag", etag)
	hd.Set("Content-Disposition", contentDisposition(t.File.Name))
	hd.Set("X-Valise-SHA256", t.File.SHA256)
	switch kind {
	case rangeUnsatisfiable:
		h.finishDownload(t, -1)
		hd.Del("Content-Disposition")
		hd.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		h.failLink(ctx, ErrRangeNotSatisfiable, page)
		return
	case rangeSingle:
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", r.start, r.start+r.length-1, size))
		ctx.SetStatusCode(fasthttp.StatusPartialContent)
	default:
		r = byteRange{start: 0, length: size}
		ctx.SetStatusCode(fasthttp.StatusOK)
	}
	ctx.SetContentType("application/octet-stream")
	if ctx.IsHead() {
		// No body, no download recorded (the hold is given back): the stream is never read.
		h.finishDownload(t, -1)
		ctx.SetBodyStream(&fileStream{h: h, length: r.length}, int(r.length))
		return
	}
	octx, cancel := context.WithTimeout(h.baseCtx, h.cfg.StreamTimeout)
	rc, err := h.deps.Files.OpenFile(octx, t.Manifest)
	cancel()
	if err != nil {
		h.finishDownload(t, -1)
		ctx.Response.Header.Del("Content-Range")
		ctx.Response.Header.Del("Content-Disposition")
		h.fail(ctx, fmt.Errorf("open file %s: %w", t.File.ID, err))
		return
	}
	// Everything the stream needs is copied in: it runs after the handler returned.
	streaming = true
	ctx.SetBodyStream(&fileStream{
		h: h, rc: rc, start: r.start, length: r.length, size: size, ticket: t, record: true, res: res,
	}, int(r.length))
}

// failDownload answers a download that cannot start. A browser is sent back to the link's
// page, which says why (limit reached, challenge required), rather than to a bare error
// page; a dead link gets the dead-link page, and API clients JSON.
func (h *Handler) failDownload(ctx *fasthttp.RequestCtx, token string, err error, page bool) {
	if !page {
		h.fail(ctx, err)
		return
	}
	h.pageDone(ctx, token, err, "")
}

// wantsHTML reports whether the client prefers an HTML error page (a browser following a
// download link) to JSON (curl, scripts): Accept names text/html.
func wantsHTML(ctx *fasthttp.RequestCtx) bool {
	return bytes.Contains(ctx.Request.Header.Peek("Accept"), []byte("text/html"))
}

// fileStream is a download's body: fasthttp writes it after the handler returned (through
// WriteTo, so the byte store's parallel reader does the work) and then calls CloseWithError,
// which records the download. It holds nothing of the RequestCtx.
type fileStream struct {
	h             *Handler
	rc            io.ReadSeekCloser // nil for HEAD
	start, length int64
	size          int64
	ticket        transfer.Ticket
	record        bool                   // call FinishDownload on close
	res           *membudget.Reservation // the budget held by the stream; released on close
	sought        bool
	written       int64
	closed        bool
}

// seek positions the file once, at the range's start.
func (s *fileStream) seek() error {
	if s.sought {
		return nil
	}
	s.sought = true
	if _, err := s.rc.Seek(s.start, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", s.ticket.File.ID, err)
	}
	return nil
}

// Read serves callers that do not use WriteTo.
func (s *fileStream) Read(p []byte) (int, error) {
	if s.rc == nil || s.written >= s.length {
		return 0, io.EOF
	}
	if err := s.seek(); err != nil {
		return 0, err
	}
	if rest := s.length - s.written; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := s.rc.Read(p)
	s.written += int64(n)
	return n, err
}

// WriteTo writes the range to w: to the end of the file through the reader's own WriteTo,
// or a bounded copy for a range that stops earlier.
func (s *fileStream) WriteTo(w io.Writer) (int64, error) {
	if s.rc == nil {
		return 0, nil
	}
	if err := s.seek(); err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	var err error
	if wt, ok := s.rc.(io.WriterTo); ok && s.start+s.length == s.size {
		_, err = wt.WriteTo(cw)
	} else {
		buf := make([]byte, min(int64(s.h.cfg.CopyBufferSize), max(s.length, 1)))
		_, err = io.CopyBuffer(cw, io.LimitReader(onlyReader{s.rc}, s.length-s.written), buf)
	}
	s.written += cw.n
	return cw.n, err
}

// CloseWithError is fasthttp's end of the body (fasthttp.ReadCloserWithError): wErr is the
// error writing it, nil when every byte went to the connection's buffer. The download is
// complete when it delivered the file through its last byte.
func (s *fileStream) CloseWithError(wErr error) error {
	if s.closed {
		return nil
	}
	s.closed = true
	defer s.res.Release()
	if s.rc != nil {
		if err := s.rc.Close(); err != nil {
			s.h.logger.Warn("download read needs heal", logFileID, s.ticket.File.ID, logErr, err)
		}
	}
	if s.record {
		// The download counts by the bytes it served (issue 16 item 9): transfer adds them
		// to what earlier ranges served.
		if r := s.h.finishDownload(s.ticket, s.written); r.ReceiptDue {
			s.h.sendReceipt(r.Receipt, []transfer.LinkFile{s.ticket.File})
		}
	}
	return nil
}

// onlyReader hides a reader's WriterTo, so io.CopyBuffer honours the LimitReader.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// finishDownload records a download that served served bytes (-1: none, a HEAD) and
// releases its hold. It runs after the response, on the connection's goroutine, with its own
// deadline; the caller mails the receipt the outcome calls for.
func (h *Handler) finishDownload(t transfer.Ticket, served int64) transfer.Outcome {
	ctx, cancel := context.WithTimeout(h.baseCtx, h.cfg.StreamTimeout)
	defer cancel()
	out, err := h.recordDownload(ctx, t, served)
	if err != nil {
		h.logger.Error("download not recorded", logSendID, t.SendID, logFileID, t.File.ID, logErr, err)
		return transfer.Outcome{}
	}
	if out.SendFinished && h.deps.Sweeper != nil {
		h.deps.Sweeper.Trigger()
	}
	return out
}

// sendReceipt mails the sender one receipt for one completed download: a file, or every file
// a zip delivered (one mail, not one per file), in the sender's language.
func (h *Handler) sendReceipt(r transfer.Receipt, files []transfer.LinkFile) {
	ctx, cancel := context.WithTimeout(h.baseCtx, h.cfg.StreamTimeout)
	defer cancel()
	if err := h.deps.Sends.MailReceipt(ctx, r, files, h.notifier()); err != nil {
		h.logger.Error("receipt not queued", logSendID, r.SendID, logErr, err)
	}
}

// serveZip streams every available file of a link as one zip. Entries are stored, not
// deflated: shared files are mostly compressed already, and deflate would cap the download
// far below the disk and TLS speed. The zip is streamed (chunked), so it has no
// Content-Length and no Range: resuming a zip means downloading the files one by one.
func (h *Handler) serveZip(ctx *fasthttp.RequestCtx, c call) {
	page := wantsHTML(ctx)
	ip, ok := h.allowLink(ctx, page)
	if !ok {
		return
	}
	token, grant := c.params["token"], linkgrant.From(ctx)
	res, ok := h.admit(ctx, membudget.Zip, token, ip, page)
	if !ok {
		return
	}
	streaming := false
	defer func() {
		if !streaming {
			res.Release()
		}
	}()
	view, err := h.deps.Links.OpenLink(c, token, grant, ip)
	if err == nil && view.Locked {
		err = transfer.ErrChallengeRequired
	}
	if err != nil {
		h.failDownload(ctx, token, err, page)
		return
	}
	var tickets []transfer.Ticket
	busy := false
	for _, f := range view.Files {
		if !f.Available {
			continue
		}
		t, err := h.deps.Links.StartDownload(c, token, grant, f.ID, ip, false)
		if errors.Is(err, transfer.ErrDownloadLimit) || errors.Is(err, transfer.ErrFileNotFound) || errors.Is(err, transfer.ErrDownloadBusy) {
			busy = busy || errors.Is(err, transfer.ErrDownloadBusy)
			continue
		}
		if err != nil {
			for _, t := range tickets {
				h.finishDownload(t, -1)
			}
			h.failDownload(ctx, token, err, page)
			return
		}
		tickets = append(tickets, t)
	}
	if len(tickets) == 0 {
		err := transfer.ErrDownloadLimit
		if busy {
			err = transfer.ErrDownloadBusy
		}
		h.failDownload(ctx, token, err, page)
		return
	}
	ctx.Response.Header.Set("Content-Disposition", contentDisposition(zipFileName(view.SendID, tickets)))
	ctx.SetContentType("application/zip")
	ctx.SetStatusCode(fasthttp.StatusOK)
	// The writer runs after the handler returns: it gets copies (tickets are values whose
	// slices come from the domain, not from ctx), never ctx.
	streaming = true
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer res.Release()
		h.writeZip(w, tickets)
	})
}

// writeZip writes the zip of tickets' files to w and records each file's download; the zip
// is one download for its receipt: one mail listing the files it delivered whole.
func (h *Handler) writeZip(w *bufio.Writer, tickets []transfer.Ticket) {
	zw := zip.NewWriter(w)
	names := map[string]int{}
	broken := false
	var receipt *transfer.Receipt
	var delivered []transfer.LinkFile
	defer func() {
		if receipt != nil {
			h.sendReceipt(*receipt, delivered)
		}
	}()
	for _, t := range tickets {
		if broken {
			h.finishDownload(t, -1)
			continue
		}
		n, err := h.zipFile(zw, t, zipName(t.File.Folder, t.File.Name, names))
		if err == nil {
			err = w.Flush()
		}
		// The zip is one download for receipts (issue 16 item 9): its first complete file
		// claims the recipient's zip receipt, and the receipt lists every file delivered.
		t.Zip = true
		out := h.finishDownload(t, n)
		if out.ReceiptDue && receipt == nil {
			receipt = &out.Receipt
		}
		if out.Counted {
			delivered = append(delivered, t.File)
		}
		if err != nil {
			h.logger.Info("zip download cut", logSendID, t.SendID, logFileID, t.File.ID, logErr, err)
			broken = true
		}
	}
	if broken {
		return // no central directory: the client sees a truncated zip, never a wrong one
	}
	if err := zw.Close(); err != nil {
		h.logger.Info("zip download cut", logErr, err)
		return
	}
	_ = w.Flush()
}

// zipFile writes one stored entry.
func (h *Handler) zipFile(zw *zip.Writer, t transfer.Ticket, name string) (int64, error) {
	octx, cancel := context.WithTimeout(h.baseCtx, h.cfg.StreamTimeout)
	rc, err := h.deps.Files.OpenFile(octx, t.Manifest)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", t.File.ID, err)
	}
	defer rc.Close()
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: time.Now().UTC()})
	if err != nil {
		return 0, fmt.Errorf("zip entry %s: %w", t.File.ID, err)
	}
	n, err := io.Copy(fw, rc)
	if err != nil {
		return n, fmt.Errorf("zip %s: %w", t.File.ID, err)
	}
	return n, nil
}

// zipFileName names a link's zip: after the folder all its files come from ("Rapport.zip"),
// else "valise-<send>.zip".
func zipFileName(id transfer.SendID, tickets []transfer.Ticket) string {
	top, _, _ := strings.Cut(tickets[0].File.Folder, "/")
	for _, t := range tickets[1:] {
		if first, _, _ := strings.Cut(t.File.Folder, "/"); first != top {
			top = ""
			break
		}
	}
	if top = zipElem(top, ""); top == "" {
		return "valise-" + shortID(string(id)) + ".zip"
	}
	return top + ".zip"
}

// zipName makes a file's folder and name a safe, unique zip entry name: its folder's
// elements and its name each cleaned by zipElem, joined by "/", with " (2)" before the
// extension for a path already in the zip (compared without case, as Windows and macOS
// unzip).
func zipName(folder, name string, seen map[string]int) string {
	name = zipElem(name, "file")
	if folder != "" {
		elems := strings.Split(folder, "/")
		for i, e := range elems {
			elems[i] = zipElem(e, "_")
		}
		name = strings.Join(elems, "/") + "/" + name
	}
	key := strings.ToLower(name)
	seen[key]++
	if n := seen[key]; n > 1 {
		ext := path.Ext(name)
		name = fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(name, ext), n, ext)
	}
	return name
}

// zipElem makes one path element safe whatever it holds: separators and control characters
// become "_", leading dots go (no hidden file, no ".."), windowsSafe maps what would be a
// drive, stream or device on Windows, and an element left empty becomes the placeholder
// empty. transfer validated the names already: this is the second lock.
func zipElem(elem, empty string) string {
	elem = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, elem)
	elem = windowsSafe(strings.TrimLeft(elem, "."))
	if elem == "" {
		return empty
	}
	return elem
}

// shortID returns the first 8 characters of an ID.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
