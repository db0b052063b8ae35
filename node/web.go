package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/blobstore"
	"valise/httpd"
	"valise/httpd/api"
	"valise/httpd/tus"
	"valise/notify"
	"valise/scan"
	"valise/transfer"
)

// rescanEvery is how often the leader rescans the files held because the scanner was down.
const rescanEvery = time.Minute

// startUploads builds the tus uploads: the transfer.Uploader (blobstore, clamd, metadata)
// behind the tus server, authenticated by bearer token. The uploads of interrupted tus
// sessions resume from their records; staged data no record names is removed once a leader
// is known (afterLeader).
func (n *instance) startUploads() error {
	ucfg := transfer.DefaultUploaderConfig()
	ucfg.OnFinished = n.uploadFinished
	var sc transfer.Scanner
	if n.scanner != nil && n.scanner.client != nil {
		sc = scannerSource{n.scanner}
	}
	up, err := transfer.NewUploader(ucfg, n.transfers, n.blobs, sc, n.logger)
	if err != nil {
		return fmt.Errorf("uploader: %w", err)
	}
	n.uploader = up
	n.onStop("uploader", func(context.Context) error { return up.Close() })
	ts, err := tus.New(tus.DefaultConfig(), tusBackend{up}, n.tusPrincipal, n.logger)
	if err != nil {
		return fmt.Errorf("tus server: %w", err)
	}
	n.tus = ts
	return nil
}

// httpDeps are the routes of the HTTPS server.
func (n *instance) httpDeps() httpd.Deps {
	d := httpd.Deps{Ready: readiness{n}, API: &n.api}
	if n.tus != nil {
		d.Uploads = n.tus.Handle
	}
	return d
}

// tusPrincipal authenticates a tus request by its bearer token (account.AuthenticateToken: a
// linearizable check, so a disabled user or a revoked token is refused at once).
func (n *instance) tusPrincipal(ctx *fasthttp.RequestCtx) (string, bool) {
	auth := ctx.Request.Header.Peek("Authorization")
	scheme, tok, ok := bytes.Cut(auth, []byte(" "))
	if !ok || !bytes.EqualFold(scheme, []byte("Bearer")) || len(tok) == 0 || len(tok) > 512 {
		return "", false
	}
	u, _, err := n.accounts.AuthenticateToken(ctx, string(bytes.TrimSpace(tok)))
	if err != nil {
		if !errors.Is(err, account.ErrInvalidToken) && !errors.Is(err, account.ErrDisabled) {
			n.logger.Warn("authenticate an upload", "err", err)
		}
		return "", false
	}
	return u.ID, true
}

// uploadFinished tells the sender when their upload was found infected.
func (n *instance) uploadFinished(ctx context.Context, f transfer.FinishedUpload) {
	if f.File.Verdict != transfer.VerdictInfected {
		return
	}
	n.logger.Warn("upload infected: quarantined", logFileID, f.File.ID, "signature", f.Signature)
	u, err := n.accounts.ByID(ctx, f.File.Owner)
	if err != nil {
		n.logger.Error("tell the sender of an infected upload: owner unknown", logFileID, f.File.ID, "err", err)
		return
	}
	msg, err := notify.Render(notify.KindInfected, string(u.Language), notify.InfectedData{
		SenderName: displayName(u), FileName: f.File.Name, Signature: f.Signature,
	})
	if err != nil {
		n.logger.Error("render the infected-file mail", logFileID, f.File.ID, "err", err)
		return
	}
	msg.To = []string{u.Email}
	msg.Ref = string(f.File.ID)
	if _, err := n.mail.Enqueue(ctx, msg, "system"); err != nil {
		n.logger.Error("queue the infected-file mail", logFileID, f.File.ID, "err", err)
	}
}

func displayName(u account.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

// rescanHeld rescans, on the leader, the files held because the scanner was down.
func (n *instance) rescanHeld() {
	defer n.bg.Done()
	t := time.NewTicker(rescanEvery)
	defer t.Stop()
	for {
		select {
		case <-n.bgCtx.Done():
			return
		case <-t.C:
		}
		if n.store.Status().State != "Leader" {
			continue
		}
		if c, err := n.uploader.RescanHeld(n.bgCtx); err != nil {
			n.logger.Warn("rescan held files", "err", err, "scanned", c)
		} else if c > 0 {
			n.logger.Info("rescanned held files", "count", c)
		}
	}
}

// scannerSource gives the Uploader the node's clamd.
type scannerSource struct{ s *scanner }

// Client implements transfer.Scanner.
func (s scannerSource) Client() *scan.Client { return s.s.client }

// tusBackend adapts transfer.Uploader to tus.Backend: IDs as strings, errors as tus's.
type tusBackend struct{ u *transfer.Uploader }

var _ tus.Backend = tusBackend{}

// Create implements tus.Backend.
func (b tusBackend) Create(ctx context.Context, r tus.CreateRequest) (string, error) {
	id, err := b.u.Create(ctx, r.Principal, r.Length, r.Metadata)
	return string(id), tusError(err)
}

// Info implements tus.Backend.
func (b tusBackend) Info(ctx context.Context, principal, id string) (tus.Info, error) {
	in, err := b.u.Info(ctx, principal, transfer.FileID(id))
	if err != nil {
		return tus.Info{}, tusError(err)
	}
	return tus.Info{Offset: in.Offset, Length: in.Length, Expires: in.Expires, Metadata: in.Metadata}, nil
}

// Write implements tus.Backend.
func (b tusBackend) Write(ctx context.Context, principal, id string, offset int64, chunk tus.Chunk) (int64, error) {
	off, err := b.u.Write(ctx, principal, transfer.FileID(id), offset, chunk)
	return off, tusError(err)
}

// Terminate implements tus.Backend.
func (b tusBackend) Terminate(ctx context.Context, principal, id string) error {
	return tusError(b.u.Terminate(ctx, principal, transfer.FileID(id)))
}

// MaxSize implements tus.Backend.
func (b tusBackend) MaxSize(principal string) int64 { return b.u.MaxSize(principal) }

// tusError maps transfer's upload errors onto tus's, keeping the cause.
func tusError(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range []struct{ from, to error }{
		{transfer.ErrUploadNotFound, tus.ErrNotFound},
		{transfer.ErrUploadExpired, tus.ErrExpired},
		{transfer.ErrOffsetMismatch, tus.ErrOffsetMismatch},
		{transfer.ErrChecksumMismatch, tus.ErrChecksumMismatch},
		{transfer.ErrChunkIncomplete, tus.ErrIncomplete},
		{transfer.ErrTooLarge, tus.ErrTooLarge},
		{transfer.ErrQuotaExceeded, tus.ErrTooLarge},
		{transfer.ErrLocked, tus.ErrLocked},
		{transfer.ErrInvalidFileName, tus.ErrBadMetadata},
		{transfer.ErrInvalidMetadata, tus.ErrBadMetadata},
		{transfer.ErrInvalidSize, tus.ErrBadMetadata},
	} {
		if errors.Is(err, m.from) && !errors.Is(err, m.to) {
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return err
}

// apiMount is the REST API as mounted in the HTTPS server. The handler is set once the
// public URL is known (after the listener is bound: port 0) and replaced when public_url
// changes; before, the API answers 404 like any unknown path.
type apiMount struct {
	h atomic.Pointer[httpd.Mount] // nil until set
}

// Handle implements httpd.Mount.
func (m *apiMount) Handle(ctx *fasthttp.RequestCtx) bool {
	h := m.h.Load()
	if h == nil {
		return false
	}
	return (*h).Handle(ctx)
}

func (m *apiMount) set(h httpd.Mount) { m.h.Store(&h) }

// storeFiles opens stored files for downloads: the manifest as transfer keeps it, decoded.
type storeFiles struct{ s *blobstore.Store }

// OpenFile decodes manifest and opens the file's plaintext.
func (f storeFiles) OpenFile(ctx context.Context, manifest []byte) (io.ReadSeekCloser, error) {
	var m blobstore.Manifest
	if err := m.UnmarshalBinary(manifest); err != nil {
		return nil, fmt.Errorf("decode a file manifest: %w", err)
	}
	return f.s.Open(ctx, m)
}

// startAPI mounts the REST API for the current public URL (the listener is bound by now, so
// a port chosen at start is known). applySettings calls it again when public_url changes;
// the handler it replaces finishes its streams until the node stops (closeAPI, registered
// before HTTPS so that it runs after HTTPS has drained its requests).
func (n *instance) startAPI() error {
	pub := n.publicURL()
	if pub == n.apiURL {
		return nil
	}
	acfg := api.DefaultConfig()
	acfg.PublicURL = pub
	h, err := api.New(acfg, api.Deps{
		Accounts: n.accounts,
		Sends:    n.transfers,
		Links:    n.transfers,
		Files:    storeFiles{n.blobs},
		Mailer:   n.mail,
		Sweeper:  n.retention,
		Logger:   n.logger,
	})
	if err != nil {
		return fmt.Errorf("rest api: %w", err)
	}
	n.api.set(h)
	if n.apiURL != "" {
		n.logger.Info("public_url changed: links now use it", "public_url", pub)
	}
	n.apiURL = pub
	n.apiHandlers = append(n.apiHandlers, h)
	// A new public host gets its certificate from the cluster CA in the background (the
	// fallback certificate, which does not name it, answers until then).
	if u, err := url.Parse(pub); err == nil && n.https != nil {
		if err := n.https.ManageNames(u.Hostname()); err != nil {
			n.logger.Warn("manage a certificate for the public_url host", "host", u.Hostname(), "err", err)
		}
	}
	return nil
}

// closeAPI ends the streams of every API handler built.
func (n *instance) closeAPI(context.Context) error {
	n.settingsMu.Lock()
	hs := n.apiHandlers
	n.settingsMu.Unlock()
	for _, h := range hs {
		h.Close()
	}
	return nil
}
