package adminapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// ErrBackupIncomplete is wrapped by Client.Backup when the stream ended without the "ok"
// trailer: what was written is not a whole backup and must be discarded.
var ErrBackupIncomplete = errors.New("the backup is incomplete")

// Backup asks the node for a backup protected as req says and copies it to w as it comes,
// calling progress (if not nil) after each chunk with what the node announced and the bytes
// written so far. It returns the announcement and the bytes written. Unless the error is nil,
// what was written to w is not a whole backup: the caller discards it (ErrBackupIncomplete
// when the node stopped, or the stream was cut, after the first byte).
func (c *Client) Backup(ctx context.Context, req BackupRequest, w io.Writer, progress func(BackupStart, int64)) (BackupStart, int64, error) {
	resp, err := c.do(ctx, http.MethodPost, PathBackup, req)
	if err != nil {
		return BackupStart{}, 0, err
	}
	defer resp.Body.Close()
	start := BackupStart{
		ID:         resp.Header.Get(HeaderBackupID),
		SigningKey: resp.Header.Get(HeaderBackupSigningKey),
	}
	start.Index, _ = strconv.ParseUint(resp.Header.Get(HeaderBackupIndex), 10, 64)
	start.Estimate, _ = strconv.ParseInt(resp.Header.Get(HeaderBackupEstimate), 10, 64)
	var written int64
	buf := make([]byte, 64<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return start, written, fmt.Errorf("write the backup: %w", err)
			}
			written += int64(n)
			if progress != nil {
				progress(start, written)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return start, written, fmt.Errorf("%w: the node stopped sending it (%v): it stopped or crashed", ErrBackupIncomplete, rerr)
		}
	}
	switch st := resp.Trailer.Get(TrailerBackupStatus); st {
	case backupStatusOK:
		return start, written, nil
	case "":
		return start, written, fmt.Errorf("%w: the node ended the stream without saying it was whole", ErrBackupIncomplete)
	default:
		return start, written, fmt.Errorf("%w: %s", ErrBackupIncomplete, st)
	}
}

// Backups lists the backups the cluster recorded, newest first.
func (c *Client) Backups(ctx context.Context) (BackupList, error) {
	return call[BackupList](ctx, c, http.MethodGet, PathBackups, nil)
}
