package node

import (
	"errors"
	"fmt"
	"os"
)

// newDataDir is a data directory that init or join is filling: what they create, so that a
// failed command leaves things as it found them.
type newDataDir struct {
	dir  string
	undo []string // paths to remove on failure, in creation order
	// keep, when not nil, says which paths inside dir that existed before rollback leaves
	// (disks re-attached by join --replace, and the folders above them).
	keep func(path string) bool
}

// createDataDir creates dir with mode 0700 if missing, or restricts an existing (empty) one.
func createDataDir(dir string) (*newDataDir, error) {
	d := &newDataDir{dir: dir}
	if err := d.mkdir(dir); err != nil {
		return nil, fmt.Errorf("create the data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		d.rollback()
		return nil, fmt.Errorf("restrict the data directory: %w", err)
	}
	return d, nil
}

// mkdir creates dir if missing, arranging its removal on failure (an existing empty
// directory keeps existing: what is put in it is removed).
func (d *newDataDir) mkdir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		d.undo = append(d.undo, dir)
	}
	return nil
}

// created arranges the removal of path, created outside the data directory, on failure.
func (d *newDataDir) created(path string) { d.undo = append(d.undo, path) }

// rollback removes what was created: the data directory's content (it was empty), then the
// paths recorded, newest first.
func (d *newDataDir) rollback() {
	for _, p := range contentsOf(d.dir) {
		if d.keep == nil || !d.keep(p) {
			_ = os.RemoveAll(p)
		}
	}
	for i := len(d.undo) - 1; i >= 0; i-- {
		_ = os.RemoveAll(d.undo[i])
	}
}
