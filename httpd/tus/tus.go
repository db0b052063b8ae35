// Package tus serves resumable uploads with the tus 1.0.0 protocol on fasthttp: core,
// creation, creation-with-upload, termination, checksum (sha1, sha256) and expiration.
//
// Bodies stream: the handler reads ctx.RequestBodyStream() (the server must run with
// StreamRequestBody) and hands it to the Backend as a Chunk, which the backend reads with
// its own bounded buffer and writes as bytes arrive; nothing buffers a whole body.
//
// Checksums: the Chunk hashes the bytes as the backend reads them, and the backend calls
// Chunk.Verify at its checkpoint, after the last byte and before anything of the chunk
// becomes durable; a failed Verify makes the backend roll back to the chunk's start. The
// backend needs no second commit/rollback call, and a handler that dies mid-chunk cannot
// leave a chunk half-verified.
//
// Deadlines: a chunk has no deadline as a whole (a 10 GiB PATCH may take minutes); each
// read from the connection does, Config.ReadTimeout, re-armed with
// fasthttp.RequestCtx.SetReadDeadline before every read. This replaces, for the body, the
// server's ReadTimeout (which fasthttp arms when it starts reading the request, covering
// headers and the body as a whole); fasthttp clears the handler's deadline when the handler
// returns. The server's ReadTimeout must thus only be long enough for the headers and
// whatever body bytes fasthttp reads ahead before calling the handler.
//
// Authentication is the caller's: Server takes a function that names the principal; every
// request needs one, OPTIONS included (nothing answers a stranger but 401, and a stranger's
// body is never read). X-HTTP-Method-Override and Upload-Defer-Length are not supported.
// Locking is the backend's: two PATCHes on one upload never run at once; the second gets
// 423 Locked while the first runs (or 409 once it is done, its offset being stale).
package tus

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"valise/fault"
	"valise/httpd/status"
	"valise/internal/membudget"
	"valise/userid"
)

// Protocol constants.
const (
	// Version is the only tus protocol version served.
	Version = "1.0.0"
	// Extensions is the Tus-Extension value.
	Extensions = "creation,creation-with-upload,termination,checksum,expiration"
	// OffsetContentType is the media type of a PATCH body.
	OffsetContentType = "application/offset+octet-stream"
	// StatusChecksumMismatch is tus's status for a chunk whose checksum does not match.
	StatusChecksumMismatch = status.ChecksumMismatch
)

// Config is what the tus handler needs.
type Config struct {
	// Prefix is the collection's path, without a trailing slash: POST goes to Prefix (or
	// Prefix + "/"), an upload lives at Prefix + "/" + id.
	Prefix string `toml:"prefix"`
	// ReadTimeout bounds each read of a body from the connection (not the whole body): a
	// client that sends nothing for this long is cut, and what it sent is kept.
	ReadTimeout time.Duration `toml:"read_timeout"`
	// DrainLimit is the largest unread body rest read and discarded before an error answer,
	// so that the client, still sending, sees the answer rather than a reset; a larger rest
	// closes the connection at once.
	DrainLimit int64 `toml:"drain_limit"`
	// Gate, when set, admits each body (PATCH, POST with a body) into the node's memory
	// budget before the backend allocates its pipeline (limits.go); nil admits all.
	Gate *membudget.Gate `toml:"-"`
}

// DefaultConfig returns the configuration used at /api/v1/uploads.
func DefaultConfig() Config {
	return Config{
		Prefix:      "/api/v1/uploads",
		ReadTimeout: 30 * time.Second,
		DrainLimit:  64 << 20,
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	if !strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/") {
		return fmt.Errorf("tus config: prefix %q must start and not end with /", c.Prefix)
	}
	if c.ReadTimeout <= 0 {
		return errors.New("tus config: read timeout must be positive")
	}
	if c.DrainLimit < 0 {
		return errors.New("tus config: negative drain limit")
	}
	return nil
}

// PrincipalFunc names the authenticated caller of a request. It fails with an error of the
// kind fault.Unauthorized (ErrUnauthorized, wrapped or not) when the request carries no valid
// credential (→ 401), and with another error when it cannot tell: one of the kind
// fault.Unavailable (no metadata leader during an election, a partition) → 503 with
// Retry-After, so that a client retries with the same credential instead of dropping it;
// anything else → 500. It runs on the request goroutine and must not keep ctx.
type PrincipalFunc func(ctx *fasthttp.RequestCtx) (userid.ID, error)

// Server is the tus handler. It holds no per-upload state: the Backend does.
type Server struct {
	cfg       Config
	backend   Backend
	principal PrincipalFunc
	logger    *slog.Logger
}

// New returns a tus server over backend.
func New(cfg Config, backend Backend, principal PrincipalFunc, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if backend == nil || principal == nil || logger == nil {
		return nil, errors.New("tus: nil backend, principal function or logger")
	}
	return &Server{cfg: cfg, backend: backend, principal: principal, logger: logger.With("component", "tus")}, nil
}

// Handle serves a request under Config.Prefix; other paths get 404. It authenticates
// first (401), then answers OPTIONS, then requires Tus-Resumable: 1.0.0 (412).
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Tus-Resumable", Version)
	h.Set("Cache-Control", "no-store")
	id, collection, ok := s.route(ctx.Path())
	if !ok {
		s.refuse(ctx, errRouteNotFound)
		return
	}
	principal, err := s.principal(ctx)
	if err != nil {
		s.refuse(ctx, s.authError(err))
		return
	}
	if ctx.IsOptions() {
		h.Set("Tus-Version", Version)
		h.Set("Tus-Extension", Extensions)
		h.Set("Tus-Max-Size", strconv.FormatInt(s.backend.MaxSize(principal), 10))
		h.Set("Tus-Checksum-Algorithm", ChecksumAlgorithms)
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	if string(ctx.Request.Header.Peek("Tus-Resumable")) != Version {
		h.Set("Tus-Version", Version)
		s.fail(ctx, errVersion)
		return
	}
	switch {
	case collection && ctx.IsPost():
		s.create(ctx, principal)
	case collection:
		h.Set("Allow", "OPTIONS, POST")
		s.fail(ctx, errMethod)
	case ctx.IsHead():
		s.head(ctx, principal, id)
	case ctx.IsPatch():
		s.patch(ctx, principal, id)
	case ctx.IsDelete():
		s.terminate(ctx, principal, id)
	default:
		h.Set("Allow", "OPTIONS, HEAD, PATCH, DELETE")
		s.fail(ctx, errMethod)
	}
}

// route splits a path into an upload ID or the collection; ok is false off the prefix or for
// a malformed ID.
func (s *Server) route(path []byte) (id string, collection, ok bool) {
	p := string(path)
	rest, found := strings.CutPrefix(p, s.cfg.Prefix)
	if !found {
		return "", false, false
	}
	if rest == "" || rest == "/" {
		return "", true, true
	}
	id, found = strings.CutPrefix(rest, "/")
	if !found || !validID(id) {
		return "", false, false
	}
	return id, false, true
}

// validID reports whether id has the shape Backend.Create promises.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// create serves POST: creation, and creation-with-upload when the request carries a body.
func (s *Server) create(ctx *fasthttp.RequestCtx, principal userid.ID) {
	hdr := &ctx.Request.Header
	if len(hdr.Peek("Upload-Defer-Length")) > 0 {
		s.fail(ctx, errDeferLength)
		return
	}
	length, ok := parseSize(hdr.Peek("Upload-Length"))
	if !ok {
		s.fail(ctx, errUploadLength)
		return
	}
	if limit := s.backend.MaxSize(principal); length > limit {
		ctx.Response.Header.Set("Tus-Max-Size", strconv.FormatInt(limit, 10))
		s.fail(ctx, errLengthTooLarge)
		return
	}
	md, err := ParseMetadata(string(hdr.Peek("Upload-Metadata")))
	if err != nil {
		s.fail(ctx, errMetadata)
		return
	}
	cl := hdr.ContentLength()
	withBody := cl > 0 || cl == -1 // -1: chunked
	var sum *Checksum
	if withBody {
		if !isOffsetContentType(hdr.ContentType()) {
			s.fail(ctx, errContentType)
			return
		}
		if !s.checkBody(ctx, 0, length) {
			return
		}
		if sum, ok = s.checksum(ctx); !ok {
			return
		}
		r, ok := s.admit(ctx, principal)
		if !ok {
			return
		}
		defer r.Release()
	}
	id, err := s.backend.Create(ctx, CreateRequest{Principal: principal, Length: length, Metadata: md})
	if err != nil {
		s.backendError(ctx, "create upload", err, nil)
		return
	}
	ctx.Response.Header.Set("Location", s.cfg.Prefix+"/"+id)
	s.logger.Debug("upload created", logUploadID, id, logLength, length)
	if withBody && !s.write(ctx, principal, id, 0, length, sum, "write first chunk of ") {
		return
	}
	s.answerExpires(ctx, principal, id)
	ctx.SetStatusCode(fasthttp.StatusCreated)
}

// head serves HEAD: the durable offset.
func (s *Server) head(ctx *fasthttp.RequestCtx, principal userid.ID, id string) {
	info, err := s.backend.Info(ctx, principal, id)
	if err != nil {
		s.backendError(ctx, "info of "+id, err, nil)
		return
	}
	h := &ctx.Response.Header
	h.Set("Upload-Offset", strconv.FormatInt(info.Offset, 10))
	h.Set("Upload-Length", strconv.FormatInt(info.Length, 10))
	if len(info.Metadata) > 0 {
		h.Set("Upload-Metadata", FormatMetadata(info.Metadata))
	}
	setExpires(ctx, info.Expires)
	ctx.SetStatusCode(fasthttp.StatusOK)
}

// patch serves PATCH: one chunk at Upload-Offset.
func (s *Server) patch(ctx *fasthttp.RequestCtx, principal userid.ID, id string) {
	hdr := &ctx.Request.Header
	if !isOffsetContentType(hdr.ContentType()) {
		s.fail(ctx, errContentType)
		return
	}
	offset, ok := parseSize(hdr.Peek("Upload-Offset"))
	if !ok {
		s.fail(ctx, errUploadOffset)
		return
	}
	sum, ok := s.checksum(ctx)
	if !ok {
		return
	}
	info, err := s.backend.Info(ctx, principal, id)
	if err != nil {
		s.backendError(ctx, "info of "+id, err, nil)
		return
	}
	if offset != info.Offset {
		ctx.Response.Header.Set("Upload-Offset", strconv.FormatInt(info.Offset, 10))
		s.fail(ctx, ErrOffsetMismatch)
		return
	}
	if !s.checkBody(ctx, offset, info.Length) {
		return
	}
	r, ok := s.admit(ctx, principal)
	if !ok {
		return
	}
	defer r.Release()
	if !s.write(ctx, principal, id, offset, info.Length-offset, sum, "write chunk of ") {
		return
	}
	s.answerExpires(ctx, principal, id)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// write writes the request's body, at most remaining bytes checked against sum, at offset
// and answers the new durable offset (Upload-Offset); false means the backend's error was
// answered (what names the write for the log: "write chunk of ").
func (s *Server) write(ctx *fasthttp.RequestCtx, principal userid.ID, id string, offset, remaining int64, sum *Checksum, what string) bool {
	c := s.newChunk(ctx, remaining, sum)
	newOffset, err := s.backend.Write(ctx, principal, id, offset, c)
	if err != nil {
		s.backendError(ctx, what+id, err, c)
		return false
	}
	ctx.Response.Header.Set("Upload-Offset", strconv.FormatInt(newOffset, 10))
	return true
}

// answerExpires sets Upload-Expires after a write, from the upload's state then; an error
// reading it leaves the header out (the write itself succeeded).
func (s *Server) answerExpires(ctx *fasthttp.RequestCtx, principal userid.ID, id string) {
	if info, err := s.backend.Info(ctx, principal, id); err == nil {
		setExpires(ctx, info.Expires)
	}
}

// terminate serves DELETE.
func (s *Server) terminate(ctx *fasthttp.RequestCtx, principal userid.ID, id string) {
	if err := s.backend.Terminate(ctx, principal, id); err != nil {
		s.backendError(ctx, "terminate "+id, err, nil)
		return
	}
	s.logger.Debug("upload terminated", logUploadID, id)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// checkBody refuses, before any byte flows, a body whose Content-Length runs past the
// upload's length (413). A chunked body is bounded while it flows, by the Chunk.
func (s *Server) checkBody(ctx *fasthttp.RequestCtx, offset, length int64) bool {
	if cl := ctx.Request.Header.ContentLength(); cl >= 0 && int64(cl) > length-offset {
		s.fail(ctx, errBodyPastLength)
		return false
	}
	return true
}

// checksum parses an optional Upload-Checksum; false means the answer was sent.
func (s *Server) checksum(ctx *fasthttp.RequestCtx) (*Checksum, bool) {
	v := ctx.Request.Header.Peek("Upload-Checksum")
	if len(v) == 0 {
		return nil, true
	}
	sum, err := ParseChecksum(string(v))
	if errors.Is(err, ErrChecksumAlgorithm) {
		s.fail(ctx, errChecksumAlgo)
		return nil, false
	}
	if err != nil {
		s.fail(ctx, errChecksum)
		return nil, false
	}
	return &sum, true
}

// newChunk wraps the request's body stream. It lives only during this request.
func (s *Server) newChunk(ctx *fasthttp.RequestCtx, remaining int64, sum *Checksum) *bodyChunk {
	expect := int64(ctx.Request.Header.ContentLength())
	if expect < 0 {
		expect = -1
	}
	return newBodyChunk(ctx.RequestBodyStream(), remaining, expect, sum, ctx.SetReadDeadline, s.cfg.ReadTimeout)
}

// backendError answers a Backend error (c, when not nil, is the chunk that was written).
func (s *Server) backendError(ctx *fasthttp.RequestCtx, doing string, err error, c *bodyChunk) {
	if fault.KindOf(err) == fault.Internal && c != nil && c.err != nil {
		// The body broke (client cut, per-read deadline): what arrived was kept; the
		// client, if still there, resumes after HEAD.
		s.logger.Debug("chunk cut", logOp, doing, logRead, c.read, logErr, err)
		var ne net.Error
		if errors.As(c.err, &ne) && ne.Timeout() {
			err = errChunkTimeout
		} else {
			err = errBodyIncomplete
		}
	} else if fault.KindOf(err) == fault.Internal {
		s.logger.Error("upload backend", logOp, doing, logErr, err)
	}
	s.reject(ctx, c, err)
}

// apiError is the JSON body of every error.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// fail answers err to a request whose body, if any, has not been read.
func (s *Server) fail(ctx *fasthttp.RequestCtx, err error) {
	s.reject(ctx, nil, err)
}

// refuse answers err to an unauthenticated request without reading its body: a stranger's
// body is not drained, its connection is closed.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, err error) {
	if cl := ctx.Request.Header.ContentLength(); cl > 0 || cl == -1 {
		ctx.SetConnectionClose()
	}
	s.answer(ctx, err)
}

// reject answers err with a JSON error body (none on HEAD, as HTTP wants), after settling
// the request body, of which c (nil: nothing) read a part.
func (s *Server) reject(ctx *fasthttp.RequestCtx, c *bodyChunk, err error) {
	s.settleBody(ctx, c)
	s.answer(ctx, err)
}

// authError returns what answers a PrincipalFunc's error: ErrUnauthorized for a refused
// credential (the cause stays unsaid), the error itself when the check could not be made (an
// outage: 503, retry), logged when internal.
func (s *Server) authError(err error) error {
	switch fault.KindOf(err) {
	case fault.Unauthorized:
		return ErrUnauthorized
	case fault.Internal:
		s.logger.Error("authenticate", logErr, err)
	}
	return err
}

// answer writes err's status and JSON error body (errorStatus), with Retry-After on a 429 or
// 503 that has none yet (status.RetryAfter).
func (s *Server) answer(ctx *fasthttp.RequestCtx, err error) {
	st, code, message := errorStatus(err)
	ctx.SetStatusCode(st)
	if after := status.RetryAfter(st, code); after != "" && len(ctx.Response.Header.Peek("Retry-After")) == 0 {
		ctx.Response.Header.Set("Retry-After", after)
	}
	b, merr := json.Marshal(apiError{Code: code, Message: message})
	if merr != nil {
		panic(fmt.Sprintf("marshal api error: %v", merr)) // two strings always marshal
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// settleBody deals with the unread rest of a request body before an error answer. A client
// that is still sending when the server answers and closes gets a TCP reset, which often
// destroys the answer before the client reads it; so a rest of at most Config.DrainLimit
// bytes is read and discarded (each read under the per-read deadline) and the connection
// kept; a larger or unknown-and-larger rest, or a broken body, closes the connection
// (fasthttp would close it anyway), and the client learns the upload's state from HEAD.
func (s *Server) settleBody(ctx *fasthttp.RequestCtx, c *bodyChunk) {
	var read int64
	if c != nil {
		if c.err != nil {
			ctx.SetConnectionClose()
			return
		}
		if c.eof {
			return
		}
		read = c.read
		if c.overflow {
			read++ // the probe byte
		}
	}
	cl := int64(ctx.Request.Header.ContentLength())
	if cl == 0 || cl < -1 || ctx.Request.Header.IsHead() || ctx.Request.Header.IsGet() {
		return
	}
	left := s.cfg.DrainLimit + 1 // chunked: drain until the end or past the limit
	if cl > 0 {
		left = cl - read
		if left <= 0 {
			return
		}
		if left > s.cfg.DrainLimit {
			ctx.SetConnectionClose()
			return
		}
	}
	stream := ctx.RequestBodyStream()
	if stream == nil {
		return
	}
	r := newBodyChunk(stream, left, -1, nil, ctx.SetReadDeadline, s.cfg.ReadTimeout)
	n, err := io.Copy(io.Discard, r)
	if err != nil || n > s.cfg.DrainLimit || (cl > 0 && n < left) {
		ctx.SetConnectionClose()
	}
}

// httpDate is the RFC 9110 IMF-fixdate layout.
const httpDate = "Mon, 02 Jan 2006 15:04:05 GMT"

// setExpires sets Upload-Expires (RFC 9110 date) when the upload expires.
func setExpires(ctx *fasthttp.RequestCtx, t time.Time) {
	if !t.IsZero() {
		ctx.Response.Header.Set("Upload-Expires", t.UTC().Format(httpDate))
	}
}

// parseSize parses a non-negative decimal integer header: digits only, no sign.
func parseSize(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

// isOffsetContentType reports whether a Content-Type is tus's, parameters ignored.
func isOffsetContentType(ct []byte) bool {
	mt, _, _ := strings.Cut(string(ct), ";")
	return strings.EqualFold(strings.TrimSpace(mt), OffsetContentType)
}
