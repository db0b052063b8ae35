package adminapi

import (
	"io"
	"net/http"
	"strconv"

	"valise/internal/logkey"
)

// Response headers of PathBackup besides HeaderBackupEstimate: what the backup holds, known
// before its first byte, so that the command line can print them whatever protects the file.
const (
	// HeaderBackupID carries the backup's record ID (BackupRecord.ID).
	HeaderBackupID = "Valise-Backup-Id"
	// HeaderBackupIndex carries the applied index of the metadata snapshot it holds.
	HeaderBackupIndex = "Valise-Backup-Index"
	// HeaderBackupSigningKey carries the fingerprint of the key that signs it, "SHA256:…".
	HeaderBackupSigningKey = "Valise-Backup-Signing-Key"
)

// BackupStart is what the node knows of a backup before its first byte: the response headers
// of PathBackup.
type BackupStart struct {
	ID         string // the record's ID
	Index      uint64 // the applied index of the snapshot
	SigningKey string // the signing key's fingerprint
	Estimate   int64  // the estimated size in bytes; 0 when unknown
}

// backupStatusOK is the trailer's value when the whole backup was written.
const backupStatusOK = "ok"

// backup serves PathBackup: the file streamed as the Service writes it, flushed as it goes,
// then the trailer saying whether it is whole. An error before the first byte is an Error
// answer, as for every route.
func (h *handler) backup(w http.ResponseWriter, r *http.Request) {
	var req BackupRequest
	if !h.decode(w, r, &req) {
		return
	}
	var started bool
	open := func(s BackupStart) io.Writer {
		started = true
		hd := w.Header()
		hd.Set("Content-Type", "application/octet-stream")
		hd.Set("Trailer", TrailerBackupStatus)
		hd.Set(HeaderBackupEstimate, strconv.FormatInt(s.Estimate, 10))
		hd.Set(HeaderBackupID, s.ID)
		hd.Set(HeaderBackupIndex, strconv.FormatUint(s.Index, 10))
		hd.Set(HeaderBackupSigningKey, s.SigningKey)
		w.WriteHeader(http.StatusOK)
		return flushWriter{w: w, f: flusherOf(w)}
	}
	err := h.svc.Backup(r.Context(), req, open)
	switch {
	case err != nil && !started:
		h.fail(w, r, err)
	case err != nil:
		h.logger.Warn("backup stopped", "path", r.URL.Path, logkey.Err, err)
		w.Header().Set(TrailerBackupStatus, publicMessage(err))
	case !started:
		h.fail(w, r, Errorf(CodeInternal, "the node wrote no backup"))
	default:
		w.Header().Set(TrailerBackupStatus, backupStatusOK)
	}
}

// backups serves PathBackups.
func (h *handler) backups(w http.ResponseWriter, r *http.Request) {
	list, err := h.svc.Backups(r.Context())
	if list.Backups == nil {
		list.Backups = []BackupRecord{}
	}
	h.reply(w, r, list, err)
}

// flusherOf returns w's Flusher, or one that does nothing.
func flusherOf(w http.ResponseWriter) http.Flusher {
	if f, ok := w.(http.Flusher); ok {
		return f
	}
	return noFlush{}
}

type noFlush struct{}

func (noFlush) Flush() {}

// flushWriter flushes each write to the client: the backup's bytes leave as they are made,
// and the node holds none of them.
type flushWriter struct {
	w io.Writer
	f http.Flusher
}

func (fw flushWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if err == nil {
		fw.f.Flush()
	}
	return n, err
}
