// Package newfile writes files an operator asked for (a journal export, an import's first
// passwords): new files only their owner may read, whole or not at all, never written over
// an existing one.
package newfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write creates path, mode 0600, with what write writes. The bytes go to path.part first
// (refused if it exists: another write is under way there, or one was interrupted), which is
// synced and then linked to path, refused if path exists meanwhile; the folder is synced. On
// any failure neither file is left behind.
func Write(path string, write func(io.Writer) error) (err error) {
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists: another write is under way, or one was interrupted (remove it)", part)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(part) // after the link, path holds the bytes; before it, nothing stays
	if err = write(f); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(part, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s appeared meanwhile: not written over", path)
		}
		return fmt.Errorf("create %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
