package adminapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// backupBody is what the stub streams: larger than one chunk, so the copy loops.
var backupBody = bytes.Repeat([]byte("valise-backup "), 20000)

// Backup streams backupBody; a recipient "fail-before" is refused before the first byte,
// "fail-after" stops half-way.
func (stubService) Backup(_ context.Context, req BackupRequest, open func(BackupStart) io.Writer) error {
	if req.Recipient == "fail-before" {
		return Errorf(CodeInvalidValue, "bad recipient")
	}
	w := open(BackupStart{ID: "b-1", Index: 42, SigningKey: "SHA256:k", Estimate: int64(len(backupBody))})
	if req.Recipient == "fail-after" {
		if _, err := w.Write(backupBody[:len(backupBody)/2]); err != nil {
			return err
		}
		return errors.New("disk on fire")
	}
	_, err := w.Write(backupBody)
	return err
}

func (stubService) Backups(context.Context) (BackupList, error) {
	return BackupList{Backups: []BackupRecord{{ID: "b-2"}, {ID: "b-1"}}}, nil
}

// TestBackupStream checks the backup route's framing: the body as written, what the node
// announced in the headers, and the trailer that alone says the file is whole (issue 19).
func TestBackupStream(t *testing.T) {
	c := serve(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		recipient string
		wantCode  string // an *Error before the first byte
		wantCut   string // ErrBackupIncomplete with this text
	}{
		{name: "whole"},
		{name: "refused before the first byte", recipient: "fail-before", wantCode: CodeInvalidValue},
		{name: "stopped half-way", recipient: "fail-after", wantCut: "disk on fire"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			var last int64
			start, n, err := c.Backup(ctx, BackupRequest{Recipient: tc.recipient}, &buf, func(_ BackupStart, done int64) { last = done })
			switch {
			case tc.wantCode != "":
				var e *Error
				if !errors.As(err, &e) || e.Code != tc.wantCode || buf.Len() != 0 {
					t.Fatalf("Backup = %v (%d bytes written), want code %s", err, buf.Len(), tc.wantCode)
				}
			case tc.wantCut != "":
				if !errors.Is(err, ErrBackupIncomplete) || !strings.Contains(err.Error(), tc.wantCut) {
					t.Fatalf("Backup = %v, want ErrBackupIncomplete saying %q", err, tc.wantCut)
				}
			default:
				if err != nil || n != int64(len(backupBody)) || last != n || !bytes.Equal(buf.Bytes(), backupBody) {
					t.Fatalf("Backup = %d bytes (progress %d), %v", n, last, err)
				}
				if start != (BackupStart{ID: "b-1", Index: 42, SigningKey: "SHA256:k", Estimate: int64(len(backupBody))}) {
					t.Fatalf("announced %+v", start)
				}
			}
		})
	}
	t.Run("list", func(t *testing.T) {
		l, err := c.Backups(ctx)
		if err != nil || len(l.Backups) != 2 || l.Backups[0].ID != "b-2" {
			t.Fatalf("Backups = %+v, %v", l, err)
		}
	})
}
