package transfer

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxFileNameBytes is the longest file name accepted, in UTF-8 bytes (what most file systems
// allow for one path element).
const MaxFileNameBytes = 255

// The limits of a file's folder (the path of a file inside a dropped folder): what every
// zip tool and file system takes.
const (
	MaxFolderBytes = 1024 // the whole folder path, in UTF-8 bytes
	MaxFolderDepth = 32   // path elements
)

// MetadataRelativePath is the tus Upload-Metadata key of a file's path inside a folder the
// user dropped or picked ("Rapport/annexes/plan.pdf"), the key Uppy and Valise's page use.
const MetadataRelativePath = "relativePath"

// FileNameProblem says what is wrong with a file name.
type FileNameProblem uint8

// The file name problems.
const (
	NameEmpty         FileNameProblem = iota + 1 // empty
	NameTooLong                                  // more than MaxFileNameBytes
	NameInvalidUTF8                              // not valid UTF-8
	NameNUL                                      // holds a NUL byte
	NameControl                                  // holds a control character (C0, DEL, C1, line separators)
	NameBidi                                     // holds a bidirectional override or isolate
	NamePathSeparator                            // holds / or \
	NameTraversal                                // "." or "..", or ".." between separators
	NameTooDeep                                  // a folder path of more than MaxFolderDepth levels
	NameMismatch                                 // a relative path that does not end with the file's name
)

// String names the problem for logs and messages.
func (p FileNameProblem) String() string {
	switch p {
	case NameEmpty:
		return "empty"
	case NameTooLong:
		return "too long"
	case NameInvalidUTF8:
		return "not valid UTF-8"
	case NameNUL:
		return "NUL byte"
	case NameControl:
		return "control character"
	case NameBidi:
		return "bidirectional override character"
	case NamePathSeparator:
		return "path separator"
	case NameTraversal:
		return "path traversal"
	case NameTooDeep:
		return "folder too deep"
	case NameMismatch:
		return "relative path does not end with the file name"
	}
	return fmt.Sprintf("problem %d", uint8(p))
}

// FileNameError is the error of ValidateFileName. errors.Is(err, ErrInvalidFileName) holds.
type FileNameError struct {
	Problem FileNameProblem
	// Offset is the byte offset of the offending character, -1 for the whole name.
	Offset int
}

func (e *FileNameError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("transfer: invalid file name: %s at byte %d", e.Problem, e.Offset)
	}
	return fmt.Sprintf("transfer: invalid file name: %s", e.Problem)
}

// Unwrap makes errors.Is(err, ErrInvalidFileName) true, and gives its kind and code.
func (e *FileNameError) Unwrap() error { return ErrInvalidFileName }

// ValidateFileName checks a file name given by a client: one path element that cannot
// escape a directory (no separators, no "." or ".." or other all-dot name), and no character that could hide or
// disguise part of it (NUL, control characters, bidirectional overrides and isolates such
// as U+202E, which make "exe.pdf" look like "fdp.exe"). It returns a *FileNameError.
// The name is not rewritten: what is accepted is stored and shown as given.
func ValidateFileName(name string) error {
	if name == "" {
		return &FileNameError{Problem: NameEmpty, Offset: -1}
	}
	if len(name) > MaxFileNameBytes {
		return &FileNameError{Problem: NameTooLong, Offset: -1}
	}
	for i, r := range name {
		switch {
		case r == utf8.RuneError && !isRealRuneError(name[i:]):
			return &FileNameError{Problem: NameInvalidUTF8, Offset: i}
		case r == 0:
			return &FileNameError{Problem: NameNUL, Offset: i}
		case isControl(r):
			return &FileNameError{Problem: NameControl, Offset: i}
		case isBidi(r):
			return &FileNameError{Problem: NameBidi, Offset: i}
		case r == '/' || r == '\\':
			if strings.HasPrefix(name[i+1:], "..") || strings.HasSuffix(name[:i], "..") {
				return &FileNameError{Problem: NameTraversal, Offset: i}
			}
			return &FileNameError{Problem: NamePathSeparator, Offset: i}
		}
	}
	if strings.Trim(name, ".") == "" { // ".", "..", and "..." which Windows reads as "."

		return &FileNameError{Problem: NameTraversal, Offset: -1}
	}
	return nil
}

// isRealRuneError reports whether s starts with an encoded U+FFFD rather than a bad byte.
func isRealRuneError(s string) bool { return strings.HasPrefix(s, "\uFFFD") }

// isControl reports C0 and C1 controls, DEL, and the Unicode line and paragraph separators
// (which break a name over lines in mails and logs).
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029
}

// isBidi reports the bidirectional embedding, override and isolate controls (U+202A–U+202E,
// U+2066–U+2069) and the invisible direction marks (U+200E, U+200F, U+061C).
func isBidi(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) ||
		r == 0x200e || r == 0x200f || r == 0x061c
}

// FolderOf returns the folder of a file named name from the path the client gave for it
// inside a dropped folder (MetadataRelativePath): rel without its last element, which must
// be name. An empty rel, or rel equal to name, means no folder (""). Every element must pass
// ValidateFileName, separated by "/" only (a browser always uses "/"; a "\\" is refused),
// with at most MaxFolderDepth elements in MaxFolderBytes. It returns a *FileNameError whose
// Offset is in rel.
func FolderOf(rel, name string) (string, error) {
	if rel == "" || rel == name {
		return "", nil
	}
	if !strings.HasSuffix(rel, "/"+name) {
		return "", &FileNameError{Problem: NameMismatch, Offset: -1}
	}
	folder := rel[:len(rel)-len(name)-1]
	if len(folder) > MaxFolderBytes {
		return "", &FileNameError{Problem: NameTooLong, Offset: -1}
	}
	if strings.Count(folder, "/")+1 > MaxFolderDepth {
		return "", &FileNameError{Problem: NameTooDeep, Offset: -1}
	}
	off := 0
	for elem := range strings.SplitSeq(folder, "/") {
		if err := ValidateFileName(elem); err != nil {
			var fe *FileNameError
			if errors.As(err, &fe) {
				if fe.Offset >= 0 {
					fe.Offset += off
				} else {
					fe.Offset = off
				}
			}
			return "", err
		}
		off += len(elem) + 1
	}
	return folder, nil
}

// joinFolder returns folder/name, or name when folder is "".
func joinFolder(folder, name string) string {
	if folder == "" {
		return name
	}
	return folder + "/" + name
}

// Path returns the file's path in the folder the sender dropped ("Rapport/plan.pdf"), or its
// name for a file sent on its own.
func (f File) Path() string { return joinFolder(f.Folder, f.Name) }

// Path returns the file's path in the folder the sender dropped, or its name.
func (f SendFile) Path() string { return joinFolder(f.Folder, f.Name) }

// Path returns the file's path in the folder the sender dropped, or its name.
func (f LinkFile) Path() string { return joinFolder(f.Folder, f.Name) }
