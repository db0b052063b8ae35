package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"valise/blobstore"
	"valise/scan"
	"valise/transfer"
	"valise/userid"
)

// Chunk is the body of one tus PATCH on its way to Pipeline.Write; it has the shape of
// httpd/tus.Chunk. It is valid only during the Write that received it and is read by that
// Write's goroutine only.
type Chunk interface {
	// Read reads the next bytes of the chunk: io.EOF at its clean end, or the transport's
	// error (client cut, deadline). It never returns bytes past the upload's length (it
	// returns an error wrapping ErrTooLarge instead), although Write checks that too.
	Read(p []byte) (int, error)
	// Verify says whether the bytes read so far may become durable. Write calls it exactly
	// once, after its last Read and before making anything durable. An error (wrapping
	// ErrChecksumMismatch, ErrChunkIncomplete, ErrTooLarge or tus's equivalents) rolls the
	// chunk back.
	Verify() error
}

// Scanner gives the clamd to scan uploads with. scan.Daemon implements it.
type Scanner interface {
	// Client returns a client of the clamd to use, or nil when no scanner is available. It
	// is called at the start of each scan from request goroutines and must not block. A
	// client of a clamd that is down is fine: its scans report scan.ReasonScannerDown. A
	// client with scan.Client.TestSignaturesOnly gives clean verdicts that say so, recorded
	// with ReasonTestSignaturesOnly.
	Client() *scan.Client
}

var _ Scanner = (*scan.Daemon)(nil)

// Config tunes the Pipeline.
type Config struct {
	// BufferSize is the size of the reused buffers a retried last chunk is compared with the
	// stored file through (a Write streams its chunk straight into the blobstore writer's
	// stripe buffers).
	BufferSize int `toml:"buffer_size"`
	// MaxOpenWriters bounds the blobstore writers kept in memory between the PATCHes of
	// uploads, the least recently used closed first (a closed one is resumed from its
	// recorded state). Each holds its stripe buffers ((workers+2) × (k+m+1) × block size)
	// and its live scan's buffer (scan.DefaultTeeBuffer).
	MaxOpenWriters int `toml:"max_open_writers"`
	// IdleWriter is how long a writer stays open without a PATCH.
	IdleWriter time.Duration `toml:"idle_writer"`
	// PersistTimeout bounds making a chunk durable (checkpoint, Raft commit) and completing
	// an upload's bookkeeping; this runs even when the request's context ended (a client
	// cut keeps the bytes received).
	PersistTimeout time.Duration `toml:"persist_timeout"`
	// ScanTimeout bounds each background scan of a completed file: the wait for the live
	// scan's reply (past it, the file is rescanned), or a rescan from the stored blocks (past
	// it, the file is not scanned: held, for RescanHeld).
	ScanTimeout time.Duration `toml:"scan_timeout"`
	// ScanWorkers is how many rescans from the stored blocks run at once in the background
	// (files whose live scan could not follow them). Live scans that only wait for clamd's
	// reply do not count.
	ScanWorkers int `toml:"scan_workers"`
	// LiveGrace is how long the completing Write waits for the live scan's verdict before it
	// returns with the file's verdict pending (0: it does not wait). A small file's verdict
	// then comes with its last PATCH; a large one's costs the PATCH at most this much.
	LiveGrace time.Duration `toml:"live_grace"`
	// TeeBuffer bounds the bytes a live scan holds for a clamd that lags behind the upload
	// before it gives up (the file is then rescanned from its stored blocks); 0 keeps the
	// scanner client's own (scan.DefaultTeeBuffer, 16 MiB). It is memory per upload.
	TeeBuffer int `toml:"tee_buffer"`
	// ScanLimit is the largest file scanned as one stream; larger files are scanned in
	// windows. At most scan.MaxScannable (the default).
	ScanLimit int64 `toml:"scan_limit"`
	// ScanWindow and ScanOverlap size the windows of files beyond ScanLimit (0: the scan
	// package's defaults, 1 GiB overlapping by 1 MiB). ScanWindow must not exceed ScanLimit.
	ScanWindow  int64 `toml:"scan_window"`
	ScanOverlap int64 `toml:"scan_overlap"`
	// OnFinished, when set, is called once a file's verdict is recorded: when an upload
	// completes with its live scan's verdict, when the background scan gives a pending file
	// its verdict, and when RescanHeld gives a held file its verdict. An infected file is the
	// caller's cue to tell the sender (the node mails through notify). It is called on the
	// goroutine of Write, of a background scan or of RescanHeld (never two calls for one
	// verdict) and must not block for long.
	OnFinished func(ctx context.Context, f Finished) `toml:"-"`
	// Node names this node in the uploads' leases (lease.go): the node ID. Empty: a random
	// name per Pipeline (one node; tests), which a restarted process cannot take back before
	// the lease expires.
	Node string `toml:"-"`
	// LeaseTTL is how long an upload's lease lasts without renewal: how long after the last
	// PATCH (or the death of its node) another node may take an upload over. Renewed every
	// LeaseTTL/3 while a PATCH is written; at most transfer.MaxLeaseTTL.
	LeaseTTL time.Duration `toml:"lease_ttl"`
}

// DefaultConfig returns the defaults: 256 KiB buffers, 4 open writers idle for at
// most 10 minutes, one minute to persist, 30 minutes to scan, one background rescan at a
// time, 20 ms for a live verdict to come with the last PATCH, leases of 5 s.
func DefaultConfig() Config {
	return Config{
		BufferSize:     256 << 10,
		MaxOpenWriters: 4,
		IdleWriter:     10 * time.Minute,
		PersistTimeout: time.Minute,
		ScanTimeout:    30 * time.Minute,
		ScanWorkers:    1,
		LiveGrace:      20 * time.Millisecond,
		ScanLimit:      scan.MaxScannable,
		LeaseTTL:       5 * time.Second,
	}
}

// Validate checks c.
func (c *Config) Validate() error {
	switch {
	case c.BufferSize < 4<<10 || c.BufferSize > 16<<20:
		return fmt.Errorf("uploader config: buffer_size %d out of 4 KiB..16 MiB", c.BufferSize)
	case c.MaxOpenWriters < 0:
		return fmt.Errorf("uploader config: max_open_writers %d must not be negative", c.MaxOpenWriters)
	case c.IdleWriter <= 0 || c.PersistTimeout <= 0 || c.ScanTimeout <= 0:
		return errors.New("uploader config: idle_writer, persist_timeout and scan_timeout must be positive")
	case c.ScanLimit < 1 || c.ScanLimit > scan.MaxScannable:
		return fmt.Errorf("uploader config: scan_limit %d out of 1..%d", c.ScanLimit, int64(scan.MaxScannable))
	case c.TeeBuffer < 0 || c.TeeBuffer > 1<<30:
		return fmt.Errorf("uploader config: tee_buffer %d out of 0..1 GiB", c.TeeBuffer)
	case c.ScanWindow < 0 || c.ScanOverlap < 0 || c.ScanWindow > c.ScanLimit:
		return errors.New("uploader config: scan_window and scan_overlap must be non-negative, scan_window at most scan_limit")
	case c.ScanWorkers < 1 || c.ScanWorkers > 64:
		return fmt.Errorf("uploader config: scan_workers %d out of 1..64", c.ScanWorkers)
	case c.LiveGrace < 0 || c.LiveGrace > time.Minute:
		return fmt.Errorf("uploader config: live_grace %v out of 0..1m", c.LiveGrace)
	case c.LeaseTTL < 300*time.Millisecond || c.LeaseTTL > transfer.MaxLeaseTTL:
		return fmt.Errorf("uploader config: lease_ttl %v out of 300ms..%v", c.LeaseTTL, transfer.MaxLeaseTTL)
	}
	return nil
}

// Finished tells what became of a file once scanned.
type Finished struct {
	// File is the file as recorded (Manifest included: never log it). File.Verdict says
	// what flows: VerdictInfected means quarantined, tell the sender; VerdictNotScanned
	// means held until RescanHeld scans it. It is never VerdictPending.
	File transfer.File
	// Signature is the signature clamd matched, for an infected file.
	Signature string
	// Live says the verdict came from the scan that followed the upload's stream; false:
	// from a rescan of the stored blocks.
	Live bool
	// Sends are the sends waiting for the antivirus that this verdict released (mail their
	// invitations) or cancelled (tell the sender).
	Sends []transfer.Settled
}

// Info is an upload's durable state (tus HEAD).
type Info struct {
	ID transfer.FileID
	// Offset is the durable offset; it equals Length once complete.
	Offset int64
	// Length is the declared size.
	Length int64
	// Expires is when an unfinished upload is discarded; zero once complete.
	Expires time.Time
	// Metadata is the decoded tus Upload-Metadata (only the file name once complete).
	Metadata map[string]string
	// Complete says the upload became a file.
	Complete bool
}

// Pipeline streams tus uploads into the blobstore and through clamd, with their progress
// recorded through the Service. Its methods are safe for concurrent use; Writes on one
// upload are exclusive (ErrLocked): in this process, and across nodes through the upload's
// lease in Raft (lease.go). Close it to release the writers it keeps open and to stop
// its background scans.
//
// Scanning: the Write that completes an upload does not wait for clamd. The file is recorded
// with the live scan's verdict when that scan followed the whole upload and answered within
// LiveGrace, and otherwise as VerdictPending (never sendable, ErrFileScanning); a background
// job then gives it its verdict: the live scan's, awaited, or a rescan from the stored blocks
// (ScanWorkers at a time). WaitVerdict blocks until a file has its verdict. Pending files
// left by a stop are queued again by the next Pipeline (New reads them), and by
// RescanHeld for any this Pipeline does not follow.
//
// Durability: a chunk is acknowledged only once its blobstore checkpoint is recorded through
// Raft (RecordProgress). After a crash anywhere before that, the upload resumes from the
// previous recorded state (Resume truncates whatever came after it and moves to a new write
// generation). A crash between the blobstore Create and the first record leaves staged data
// with no record: CleanOrphans removes it. blobstore's Commit keeps the staged tails that the
// last recorded state needs, so a crash between Commit and CompleteUpload resumes from that
// state like any other; record releases them (ReleaseStaged) once the file is recorded.
// Without a crash, a failed CompleteUpload is retried when the client resends the last chunk
// (checked against the stored bytes).
type Pipeline struct {
	cfg     Config
	svc     *transfer.Service // never nil
	blobs   *blobstore.Store  // never nil
	scanner Scanner           // may be nil: no scanner, every file held
	logger  *slog.Logger
	bufs    sync.Pool // *[]byte of cfg.BufferSize
	node    string    // the holder named in the uploads' leases

	base   context.Context // lives until Close: the live scans run under it
	cancel context.CancelFunc

	mu     sync.Mutex // guards busy, open, leases and closed
	busy   map[transfer.FileID]bool
	open   map[transfer.FileID]*openUpload // writers between PATCHes; none of them busy
	leases map[transfer.FileID]*held       // the leases of the writers open (lease.go)
	closed bool

	rescanMu sync.Mutex // held by the one RescanHeld running

	// Background scans (scan.go).
	wg      sync.WaitGroup    // the background goroutines: scan workers, live waits
	running atomic.Int32      // background goroutines not yet returned (tests look)
	qmu     sync.Mutex        // guards stopped, queue, tracked and settled
	stopped bool              // Close began: no background goroutine starts any more
	queue   []transfer.FileID // pending files waiting for a rescan worker, oldest first
	tracked map[transfer.FileID]bool
	settled chan struct{} // closed (and replaced) whenever a verdict is recorded
	wake    chan struct{} // capacity 1: a file was queued
}

// openUpload is an upload's writer kept between PATCHes, owned by whoever took it from
// Pipeline.open (a Write, Terminate, Close or the eviction).
type openUpload struct {
	w      *blobstore.Writer
	lease  *held     // the upload's lease, held while w is open; never nil
	owner  *Pipeline // releases the lease at close
	offset int64     // durable offset the writer is at
	// tee, when not nil, is the live scan that has seen every byte of the file from offset
	// 0 through w: its verdict covers the file.
	tee  *scan.StreamScanner
	used time.Time
	// done, when set, is a file committed in the blobstore whose completion could not be
	// recorded: w is finished, and the recorded state cannot be resumed (Commit removed its
	// staged tail), so the client's retry of the last chunk completes from here.
	done *committed
}

// committed is what a commit gave, kept until CompleteUpload records it.
type committed struct {
	m blobstore.Manifest
	// known says sv is the file's verdict, from the live scan; otherwise the file is
	// recorded pending and a background job gives it its verdict: the wait for live, when
	// not nil, or a rescan.
	known bool
	sv    scan.Verdict
	live  *liveScan
}

// close releases the writer without removing anything (a later Resume continues), and the
// upload's lease.
func (o *openUpload) close() {
	if o == nil {
		return
	}
	o.dropTee()
	o.w.Close()
	o.owner.release(o.lease)
}

func (o *openUpload) dropTee() {
	if o.tee != nil {
		o.tee.Close()
		o.tee = nil
	}
}

// New returns an Pipeline storing into blobs and recording through svc, and starts
// its background scans: ScanWorkers workers, and the rescan of the files left pending in the
// local metadata (by a stop, a crash). scanner may be nil: every file is then held as not
// scanned (scanner_down). logger nil discards. Close stops it.
func New(cfg Config, svc *transfer.Service, blobs *blobstore.Store, scanner Scanner, logger *slog.Logger) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if svc == nil || blobs == nil {
		return nil, errors.New("upload: New needs a transfer.Service and a blobstore")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	u := &Pipeline{
		cfg: cfg, svc: svc, blobs: blobs, scanner: scanner,
		logger: logger.With("component", "uploader"),
		base:   base, cancel: cancel,
		busy: map[transfer.FileID]bool{}, open: map[transfer.FileID]*openUpload{}, leases: map[transfer.FileID]*held{},
		tracked: map[transfer.FileID]bool{}, settled: make(chan struct{}), wake: make(chan struct{}, 1),
	}
	u.bufs.New = func() any { b := make([]byte, cfg.BufferSize); return &b }
	if u.node = cfg.Node; u.node == "" {
		u.node = randomNode()
	}
	u.goBackground(u.renewLeases)
	u.startScanWorkers()
	if _, err := u.requeuePending(); err != nil {
		u.logger.Warn("pending files not queued: RescanHeld will", keyError, err)
	}
	return u, nil
}

// Close closes the writers kept open (their uploads resume from their recorded state), stops
// the live scans and the background scans and waits for them: the files they were scanning
// stay pending, for the next Pipeline. Writes still running finish (a file they complete
// stays pending too); their writers are then closed.
func (u *Pipeline) Close() error {
	u.mu.Lock()
	u.closed = true
	open := u.open
	u.open = map[transfer.FileID]*openUpload{}
	u.mu.Unlock()
	for _, o := range open {
		o.close()
	}
	u.qmu.Lock()
	u.stopped = true
	u.queue = nil
	u.qmu.Unlock()
	u.cancel()
	u.wg.Wait()
	return nil
}

// MaxSize returns the largest upload principal may declare: the policy's MaxFileSize.
func (u *Pipeline) MaxSize(principal userid.ID) int64 { return u.svc.Policy().MaxFileSize }

// lock marks id busy; false when it already is.
func (u *Pipeline) lock(id transfer.FileID) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.busy[id] {
		return false
	}
	u.busy[id] = true
	return true
}

func (u *Pipeline) unlock(id transfer.FileID) {
	u.mu.Lock()
	delete(u.busy, id)
	u.mu.Unlock()
}

// take removes id's open writer from the map and returns it (nil: none).
func (u *Pipeline) take(id transfer.FileID) *openUpload {
	u.mu.Lock()
	defer u.mu.Unlock()
	o := u.open[id]
	delete(u.open, id)
	return o
}

// keep puts o back as id's open writer, closing the writers idle too long or beyond
// MaxOpenWriters, least recently used first.
func (u *Pipeline) keep(id transfer.FileID, o *openUpload) {
	if o == nil {
		return
	}
	now := time.Now()
	o.used = now
	var victims []*openUpload
	u.mu.Lock()
	if u.closed || u.cfg.MaxOpenWriters == 0 {
		victims = append(victims, o)
	} else {
		u.open[id] = o
		for vid, v := range u.open {
			if v.done == nil && now.Sub(v.used) > u.cfg.IdleWriter {
				victims = append(victims, v)
				delete(u.open, vid)
			}
		}
		for len(u.open) > u.cfg.MaxOpenWriters {
			var lru transfer.FileID
			for vid, v := range u.open {
				if v.done == nil && (lru == "" || v.used.Before(u.open[lru].used)) {
					lru = vid
				}
			}
			if lru == "" {
				break // only committed uploads waiting for their record: they hold no buffers
			}
			victims = append(victims, u.open[lru])
			delete(u.open, lru)
		}
	}
	u.mu.Unlock()
	for _, v := range victims {
		v.close()
	}
}

// fileName is the name a tus client gives in Upload-Metadata.
func fileName(md map[string]string) string {
	if n := md["filename"]; n != "" {
		return n
	}
	return md["name"]
}

// Create starts an upload of length bytes for principal (tus POST): it checks the file name
// from metadata ("filename", else "name"), the size and the quota through CreateUpload,
// creates the blobstore file with the same ID and records its first resume state. An upload
// of length 0 is complete before Create returns (its verdict pending, scanned in the
// background).
func (u *Pipeline) Create(ctx context.Context, principal userid.ID, length int64, metadata map[string]string) (transfer.FileID, error) {
	up, err := u.svc.CreateUpload(ctx, principal, fileName(metadata), length, metadata)
	if err != nil {
		return "", err
	}
	id := up.ID
	if !u.lock(id) {
		return "", fmt.Errorf("create upload %s: %w", id, transfer.ErrLocked) // a fresh ID: cannot happen
	}
	defer u.unlock(id)
	fail := func(err error) (transfer.FileID, error) {
		cctx, cancel := u.persistCtx(ctx)
		defer cancel()
		if cerr := u.svc.CancelUpload(cctx, principal, id); cerr != nil {
			u.logger.Warn("upload left after a failed create", keyFileID, id, keyError, cerr)
		}
		return "", err
	}
	h, err := u.acquire(ctx, principal, id, 1)
	if err != nil {
		return fail(err)
	}
	w, err := u.blobs.Create(ctx, blobstore.FileID(id))
	if err != nil {
		u.forget(h)
		return fail(fmt.Errorf("create upload %s: %w", id, err))
	}
	o := &openUpload{w: w, lease: h, owner: u}
	if length == 0 {
		if m, err := u.complete(ctx, principal, up, o); err != nil {
			if len(m.Shards) > 0 {
				u.blobs.Delete(ctx, m) // committed, but no record names it: nothing else would
			} else {
				w.Abort(ctx)
			}
			u.forget(h)
			return fail(err)
		}
		return id, nil
	}
	st, err := w.Checkpoint(ctx)
	if err == nil {
		var stb []byte
		if stb, err = st.MarshalBinary(); err == nil {
			_, err = u.svc.RecordProgressLeased(ctx, principal, h.lease(), 0, 0, stb)
		}
	}
	if err != nil {
		if aerr := w.Abort(ctx); aerr != nil {
			u.logger.Warn("staged upload left behind", keyFileID, id, keyError, aerr)
		}
		u.forget(h)
		return fail(fmt.Errorf("create upload %s: first checkpoint: %w", id, err))
	}
	u.keep(id, o)
	return id, nil
}

// Info returns the principal's upload as last made durable (tus HEAD); a completed upload
// reports Offset == Length. ErrUploadNotFound, ErrUploadExpired.
func (u *Pipeline) Info(ctx context.Context, principal userid.ID, id transfer.FileID) (Info, error) {
	up, err := u.svc.GetUpload(ctx, principal, id)
	if errors.Is(err, transfer.ErrUploadNotFound) {
		f, ferr := u.svc.GetFile(ctx, principal, id)
		if ferr != nil {
			return Info{}, err
		}
		return Info{ID: id, Offset: f.Size, Length: f.Size, Metadata: map[string]string{"filename": f.Name}, Complete: true}, nil
	}
	if err != nil {
		return Info{}, err
	}
	return Info{ID: id, Offset: up.Offset, Length: up.Size, Expires: up.Expires, Metadata: up.Metadata}, nil
}

// persistCtx is the context of the steps that must finish once bytes were received: it
// outlives the request's cancellation, bounded by PersistTimeout.
func (u *Pipeline) persistCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), u.cfg.PersistTimeout)
}

// Write appends chunk to the principal's upload at offset (tus PATCH) and returns the
// durable offset after the call, as httpd/tus.Backend.Write says:
//   - nil: the chunk ended cleanly and is durable (recorded through Raft);
//   - the Verify error, or ErrTooLarge for bytes past the length, after a rollback to offset;
//   - the chunk's read error, wrapped, after making the bytes received durable;
//   - ErrUploadNotFound, ErrUploadExpired, ErrOffsetMismatch, ErrLocked before reading;
//   - another error (storage, metadata) after a rollback.
//
// The Write that reaches the length commits the file and completes the upload before it
// returns, with the live scan's verdict when that scan followed the whole upload and answers
// within LiveGrace, and otherwise with VerdictPending: it never waits for a rescan, nor for
// clamd beyond LiveGrace. The background scan records the verdict later (WaitVerdict).
func (u *Pipeline) Write(ctx context.Context, principal userid.ID, id transfer.FileID, offset int64, chunk Chunk) (int64, error) {
	// Whose upload it is comes first: another user's Write must neither lock the upload
	// (its owner's PATCHes would get ErrLocked) nor take and close its open writer (its live
	// scan, or a committed file waiting for its record, would be lost).
	if !u.svc.OwnsUploadOrFile(principal, id) {
		return offset, transfer.ErrUploadNotFound
	}
	if !u.lock(id) {
		return offset, fmt.Errorf("write %s: %w", id, transfer.ErrLocked)
	}
	defer u.unlock(id)
	up, err := u.svc.GetUpload(ctx, principal, id)
	if err != nil {
		if errors.Is(err, transfer.ErrUploadNotFound) {
			if o := u.take(id); o != nil {
				o.close() // the upload became a file or was cancelled: its writer is of no use
			}
			return u.writeCompleted(ctx, principal, id, offset, chunk, err)
		}
		return offset, err
	}
	o := u.take(id)
	if up.Offset != offset {
		u.keep(id, o)
		return up.Offset, fmt.Errorf("write %s at %d: %w: the upload is at %d", id, offset, transfer.ErrOffsetMismatch, up.Offset)
	}
	if o != nil {
		// Kept open since the last PATCH: still ours only if no other node took the upload
		// over meanwhile (lease.go).
		if err := u.confirm(ctx, o.lease); err != nil {
			if !errors.Is(err, transfer.ErrLocked) {
				u.keep(id, o)
				return offset, fmt.Errorf("write %s: renew lease: %w", id, err)
			}
			u.logger.Info("upload taken over by another node: resuming from its record", keyFileID, id, keyError, err)
			o.close()
			o = nil
		}
	}
	if o != nil && o.done != nil && o.offset == up.Offset {
		return u.finishCommitted(ctx, principal, up, o, chunk)
	}
	if o == nil || o.offset != up.Offset {
		o.close()
		if o, err = u.openWriter(ctx, principal, up); err != nil {
			return offset, err
		}
	}
	if o.tee == nil && offset == 0 && up.Size <= u.cfg.ScanLimit {
		if c := u.client(); c != nil {
			if u.cfg.TeeBuffer > 0 {
				cc := *c
				cc.TeeBuffer = u.cfg.TeeBuffer
				c = &cc
			}
			o.tee = scan.NewStreamScanner(u.base, c)
		}
	}

	written, overflow, rerr, werr := u.stream(ctx, o, up.Size-offset, chunk)
	verr := chunk.Verify()

	pctx, cancel := u.persistCtx(ctx)
	defer cancel()
	switch {
	case overflow:
		u.rollback(pctx, principal, o, up)
		return offset, fmt.Errorf("write %s at %d: %w: the chunk runs past the upload's %d bytes", id, offset, transfer.ErrTooLarge, up.Size)
	case verr != nil:
		u.rollback(pctx, principal, o, up)
		return offset, fmt.Errorf("write %s at %d: chunk rolled back: %w", id, offset, verr)
	case werr != nil:
		u.rollback(pctx, principal, o, up)
		return offset, fmt.Errorf("write %s at %d: %w", id, offset, werr)
	}
	readErr := func(off int64) (int64, error) {
		if rerr != nil {
			return off, fmt.Errorf("write %s: read chunk (%d bytes kept): %w", id, written, rerr)
		}
		return off, nil
	}
	if written == 0 {
		u.keep(id, o)
		return readErr(offset)
	}
	newOffset := offset + written
	if newOffset == up.Size {
		if _, err := u.complete(pctx, principal, up, o); err != nil {
			if o.done != nil {
				u.keep(id, o)
			}
			return offset, err
		}
		return readErr(newOffset)
	}
	st, err := o.w.Checkpoint(pctx)
	var stb []byte
	if err == nil {
		stb, err = st.MarshalBinary()
	}
	if err != nil {
		u.rollback(pctx, principal, o, up)
		return offset, fmt.Errorf("write %s at %d: checkpoint: %w", id, offset, err)
	}
	if _, err := u.svc.RecordProgressLeased(pctx, principal, o.lease.lease(), offset, newOffset, stb); err != nil {
		// The record may or may not have been committed (a timeout): never truncate here.
		// The next Write resumes from whatever the metadata holds.
		o.close()
		return u.durableOffset(pctx, principal, id, offset), fmt.Errorf("write %s at %d: %w", id, offset, err)
	}
	o.offset = newOffset
	u.keep(id, o)
	return readErr(newOffset)
}

// stream copies the chunk into the writer and the live scan, never past limit bytes: the
// chunk is read straight into the writer's stripe buffers (blobstore.Writer.ReadFrom), so the
// bytes are copied once, from the connection's TLS buffer, and the live scan copies them from
// there into its own ring (which never blocks). overflow says the chunk held more; rerr is the
// chunk's read error (not io.EOF), werr the writer's.
func (u *Pipeline) stream(ctx context.Context, o *openUpload, limit int64, chunk Chunk) (written int64, overflow bool, rerr, werr error) {
	sr := &streamReader{ctx: ctx, chunk: chunk, limit: limit, tee: o.tee}
	_, err := o.w.ReadFrom(sr)
	if err == nil || errors.Is(err, errStreamStop) {
		return sr.written, sr.overflow, sr.rerr, nil
	}
	return sr.written, false, nil, err // the pipeline's: a shard write failed
}

// errStreamStop ends a streamReader's input early (overflow, a read error recorded in rerr):
// it never leaves stream.
var errStreamStop = errors.New("stream stopped")

// streamReader is the chunk as blobstore.Writer.ReadFrom reads it: bounded to limit (a read
// one byte past it detects an overflow), teed to the live scan, stopped when ctx ends. It
// records why it stopped.
type streamReader struct {
	ctx      context.Context
	chunk    Chunk
	tee      *scan.StreamScanner // nil: no live scan
	limit    int64
	written  int64
	overflow bool
	rerr     error
}

// Read implements io.Reader for Writer.ReadFrom.
func (r *streamReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		r.rerr = err
		return 0, errStreamStop
	}
	room := r.limit - r.written
	if room < int64(len(p)) {
		p = p[:room+1] // one byte more than room detects an overflow
	}
	n, err := r.chunk.Read(p)
	if int64(n) > room {
		n, r.overflow = int(room), true
	}
	if n > 0 {
		if r.tee != nil {
			r.tee.Write(p[:n]) // never blocks: gives up when clamd lags
		}
		r.written += int64(n)
	}
	switch {
	case r.overflow:
		return n, errStreamStop
	case err == nil:
		return n, nil
	case err == io.EOF:
		return n, io.EOF
	case errors.Is(err, transfer.ErrTooLarge):
		r.overflow = true
		return n, errStreamStop
	}
	r.rerr = err
	return n, errStreamStop
}

// durableOffset re-reads the upload's offset after a failed record, fallback when unknown.
func (u *Pipeline) durableOffset(ctx context.Context, principal userid.ID, id transfer.FileID, fallback int64) int64 {
	if up, err := u.svc.GetUpload(ctx, principal, id); err == nil {
		return up.Offset
	}
	return fallback
}

// writeCompleted answers a Write to an upload that is no more: when it became the
// principal's file and offset is its size, the empty chunk the client may send is fine.
func (u *Pipeline) writeCompleted(ctx context.Context, principal userid.ID, id transfer.FileID, offset int64, chunk Chunk, notFound error) (int64, error) {
	f, err := u.svc.GetFile(ctx, principal, id)
	if err != nil {
		return offset, notFound
	}
	if offset != f.Size {
		return f.Size, fmt.Errorf("write %s at %d: %w: the upload is complete at %d", id, offset, transfer.ErrOffsetMismatch, f.Size)
	}
	var one [1]byte
	n, _ := chunk.Read(one[:])
	chunk.Verify()
	if n > 0 {
		return f.Size, fmt.Errorf("write %s: %w: the upload is complete", id, transfer.ErrTooLarge)
	}
	return f.Size, nil
}

// openWriter opens a writer at the upload's durable offset under the upload's lease, which it
// takes first (transfer.ErrLocked while another node holds it): Resume from its recorded state
// at the generation the lease claimed or above; with no state at all (the process stopped
// between the blobstore Create and the first record), whatever was staged is removed and the
// file created again (a new data key: its generation 1 reuses no nonce).
func (u *Pipeline) openWriter(ctx context.Context, principal userid.ID, up transfer.Upload) (*openUpload, error) {
	bid := blobstore.FileID(up.ID)
	var st blobstore.ResumeState
	atLeast := uint32(1)
	if len(up.ResumeState) == 0 {
		if up.Offset != 0 {
			return nil, fmt.Errorf("open upload %s: no resume state at offset %d", up.ID, up.Offset)
		}
	} else {
		if err := st.UnmarshalBinary(up.ResumeState); err != nil {
			return nil, fmt.Errorf("open upload %s: %w", up.ID, err)
		}
		if st.FileID != bid || st.Offset != up.Offset {
			return nil, fmt.Errorf("open upload %s: resume state of %s at %d, upload at %d", up.ID, st.FileID, st.Offset, up.Offset)
		}
		atLeast = max(st.Generation, st.Generation+1) // no wrap: AcquireLease refuses past the last
	}
	h, err := u.acquire(ctx, principal, up.ID, atLeast)
	if err != nil {
		return nil, err
	}
	var w *blobstore.Writer
	if len(up.ResumeState) == 0 {
		if err = u.blobs.CleanStaged(ctx, func(f blobstore.FileID) bool { return f != bid }); err == nil {
			w, err = u.blobs.Create(ctx, bid)
		}
	} else {
		w, err = u.resume(ctx, h, st)
	}
	if err != nil {
		u.release(h)
		return nil, fmt.Errorf("open upload %s: %w", up.ID, err)
	}
	return &openUpload{w: w, lease: h, owner: u, offset: up.Offset}, nil
}

// rollback discards what the writer took since up's recorded state: the writer is closed
// and resumed from that state at once (blobstore moves to a new write generation, and
// truncates the shards), and the live scan, which saw the discarded bytes, is dropped.
func (u *Pipeline) rollback(ctx context.Context, principal userid.ID, o *openUpload, up transfer.Upload) {
	o.close()
	n, err := u.openWriter(ctx, principal, up)
	if err != nil {
		u.logger.Warn("rollback: resume later", keyFileID, up.ID, keyError, err)
		return
	}
	u.keep(up.ID, n)
}

// Terminate deletes the principal's upload and its bytes (tus DELETE): CancelUpload, then the
// writer's Abort or the shards named by its resume state (the tombstone CancelUpload leaves
// lets the sweep finish if this fails). ErrUploadNotFound, ErrLocked while a Write runs.
func (u *Pipeline) Terminate(ctx context.Context, principal userid.ID, id transfer.FileID) error {
	if !u.lock(id) {
		return fmt.Errorf("terminate %s: %w", id, transfer.ErrLocked)
	}
	defer u.unlock(id)
	up, err := u.svc.UploadRecord(principal, id)
	if err != nil {
		return transfer.ErrUploadNotFound
	}
	o := u.take(id)
	if err := u.svc.CancelUpload(ctx, principal, id); err != nil {
		u.keep(id, o)
		return err
	}
	if o != nil {
		u.forget(o.lease) // gone with the upload
	}
	if o != nil && o.done == nil {
		o.dropTee()
		if err := o.w.Abort(ctx); err != nil {
			return fmt.Errorf("terminate %s: %w", id, err)
		}
		return nil
	}
	bid := blobstore.FileID(id)
	if len(up.ResumeState) == 0 {
		if err := u.blobs.CleanStaged(ctx, func(f blobstore.FileID) bool { return f != bid }); err != nil {
			return fmt.Errorf("terminate %s: %w", id, err)
		}
		return nil
	}
	var st blobstore.ResumeState
	if err := st.UnmarshalBinary(up.ResumeState); err != nil {
		return fmt.Errorf("terminate %s: %w", id, err)
	}
	m := blobstore.Manifest{FileID: st.FileID, Layout: st.Layout, BlockSize: st.BlockSize, Codec: blobstore.CodecRSVandermonde, Shards: st.Shards}
	if err := u.blobs.Delete(ctx, m); err != nil {
		return fmt.Errorf("terminate %s: %w", id, err)
	}
	return nil
}

// CleanOrphans removes the staged uploads of the local disks that no upload record names
// any more: the process stopped between the blobstore Create and the record, or an upload
// was cancelled before its first checkpoint. Uploads with a record resume from their state;
// abandoned ones are the sweep's. Staged files for which others returns true belong to
// another writer of the byte store (a selftest, a rebalance copy) and are never removed here;
// others may be nil. It returns the number of uploads removed. Run it on the leader (it reads
// the metadata linearizably first).
func (u *Pipeline) CleanOrphans(ctx context.Context, others func(blobstore.FileID) bool) (int, error) {
	staged, err := u.blobs.ListStaged(ctx)
	if err != nil {
		return 0, fmt.Errorf("clean orphans: %w", err)
	}
	if err := u.svc.LinearizableRead(ctx); err != nil {
		return 0, fmt.Errorf("clean orphans: %w", err)
	}
	orphans := map[blobstore.FileID]bool{}
	for _, s := range staged {
		if others != nil && others(s.FileID) {
			continue
		}
		id := transfer.FileID(s.FileID)
		u.mu.Lock()
		inUse := u.busy[id] || u.open[id] != nil
		u.mu.Unlock()
		if inUse {
			continue
		}
		recorded, err := u.svc.UploadRecorded(id)
		if err != nil {
			return 0, fmt.Errorf("clean orphans: %w", err)
		}
		if !recorded {
			orphans[s.FileID] = true
		}
	}
	if len(orphans) == 0 {
		return 0, nil
	}
	if err := u.blobs.CleanStaged(ctx, func(f blobstore.FileID) bool { return !orphans[f] }); err != nil {
		return 0, fmt.Errorf("clean orphans: %w", err)
	}
	u.logger.Info("orphan staged uploads removed", keyCount, len(orphans))
	return len(orphans), nil
}

// RescanHeld scans again the files held as not scanned because the scanner was down or the
// scan failed, and the files found clean with test signatures only once the scanner has real
// ones, and records their verdicts (SetVerdict; OnFinished is called for each). It stops at
// the first file the scanner cannot reach (the others would fail alike); a file whose scan
// fails (scan_error) does not stop it, and is recorded again only when the outcome changed.
// It returns the number of files given a new verdict. First it queues for the background
// scan the pending files no job of this Pipeline follows (left by another node, or by a
// completion whose record timed out yet committed): they are not counted. A second call
// while one runs returns 0 at once. The node runs it on a ticker, on the leader.
func (u *Pipeline) RescanHeld(ctx context.Context) (int, error) {
	if !u.rescanMu.TryLock() {
		return 0, nil
	}
	defer u.rescanMu.Unlock()
	if _, err := u.requeuePending(); err != nil {
		return 0, fmt.Errorf("rescan held: %w", err)
	}
	pol := u.svc.Policy()
	c := u.client()
	realSignatures := c != nil && !c.TestSignaturesOnly
	var held []transfer.File
	err := u.svc.ScanFiles(func(f transfer.File) error {
		// Held: the scanner was down or the scan failed; or too large to scan under a policy
		// that no longer skips large files. Or checked with test signatures only, now that
		// real ones are loaded.
		r := f.VerdictReason
		if f.Verdict == transfer.VerdictNotScanned && (r == scan.ReasonScannerDown.Code() || r == scan.ReasonScanError.Code() ||
			r == scan.ReasonTooLarge.Code() && !pol.SkipLargeScan) ||
			realSignatures && !f.Quarantined && transfer.CheckedTestSignaturesOnly(f.Verdict, r) {
			held = append(held, f)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rescan held: %w", err)
	}
	done := 0
	for _, f := range held {
		if err := ctx.Err(); err != nil {
			return done, fmt.Errorf("rescan held: %w", err)
		}
		var m blobstore.Manifest
		if err := m.UnmarshalBinary(f.Manifest); err != nil {
			u.logger.Error("rescan held: bad manifest", keyFileID, f.ID, keyError, err)
			continue
		}
		sv := u.rescan(ctx, m)
		if sv.Kind == scan.KindNotScanned && sv.Reason == scan.ReasonScannerDown {
			return done, nil
		}
		v, reason := fromScan(sv)
		if v == f.Verdict && reason == f.VerdictReason {
			continue // the same outcome again (a scan that keeps failing): on to the others
		}
		if err := u.svc.SetVerdict(ctx, f.ID, v, reason); err != nil {
			if errors.Is(err, transfer.ErrFileNotFound) {
				continue // destroyed meanwhile
			}
			return done, fmt.Errorf("rescan held: %w", err)
		}
		done++
		f.Verdict, f.VerdictReason = v, reason
		f.Quarantined = f.Quarantined || v == transfer.VerdictInfected
		u.logger.Info("held file scanned", keyFileID, f.ID, keyVerdict, sv.String())
		u.finished(ctx, Finished{File: f, Signature: infectedSignature(sv)})
	}
	return done, nil
}
