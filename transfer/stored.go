package transfer

import (
	"strings"

	"valise/raftfsm"
)

// Reading the metadata without a Service (issue 19): a restore checks the files the backup
// recorded against the shards on the disks before the node's services start, and the
// restore report is computed from the store alone.

// Scanner is the read side of Metadata that ScanStoredFiles needs.
type Scanner interface {
	Scan(prefix []byte, fn func(raftfsm.Item) error) error
}

// ScanStoredFiles calls fn with every file record of store (Manifest and Version included:
// never log the manifest), in ID order; an error from fn stops the scan and is returned.
func ScanStoredFiles(store Scanner, fn func(File) error) error {
	return scanJSON(store, prefixFile, func(f *File, ver uint64) error {
		f.Version = ver
		return fn(*f)
	})
}

// StoredUploads returns the IDs of the uploads in progress that store records: their byte
// store files are being written and have no file record yet.
func StoredUploads(store Scanner) ([]FileID, error) {
	var out []FileID
	err := store.Scan([]byte(prefixUpload), func(item raftfsm.Item) error {
		out = append(out, FileID(strings.TrimPrefix(string(item.Key), prefixUpload)))
		return nil
	})
	return out, err
}
