package api

import (
	"strings"
)

// rangeKind is what a Range header asks of a file of a given size.
type rangeKind int

const (
	// rangeNone: serve the whole file (200). No Range header, another unit, a malformed
	// header (RFC 9110 §14.2: a server may ignore it) or several ranges: Valise serves one
	// part per response, and the whole file is the simplest correct answer to a multi-range
	// request (download managers ask for one range per connection).
	rangeNone rangeKind = iota
	// rangeSingle: serve the one satisfiable range (206).
	rangeSingle
	// rangeUnsatisfiable: the single range starts at or past the end, or is a zero-length
	// suffix (416 with Content-Range: bytes */size).
	rangeUnsatisfiable
)

// byteRange is a satisfiable range: first byte and length.
type byteRange struct {
	start, length int64
}

// maxRangeHeader bounds the header looked at; longer ones are ignored.
const maxRangeHeader = 1024

// parseRange interprets a Range header value for a file of size bytes.
func parseRange(h string, size int64) (byteRange, rangeKind) {
	if h == "" || len(h) > maxRangeHeader || size < 0 {
		return byteRange{}, rangeNone
	}
	unit, set, ok := strings.Cut(h, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return byteRange{}, rangeNone
	}
	var specs []string
	for s := range strings.SplitSeq(set, ",") {
		s = strings.Trim(s, " \t")
		if s != "" {
			specs = append(specs, s)
		}
	}
	if len(specs) != 1 {
		// Empty, or several ranges: validate nothing, serve the whole file.
		return byteRange{}, rangeNone
	}
	first, last, ok := strings.Cut(specs[0], "-")
	if !ok {
		return byteRange{}, rangeNone
	}
	if first == "" { // suffix: the last N bytes
		n, ok := parseDigits(last)
		if !ok {
			return byteRange{}, rangeNone
		}
		if n == 0 || size == 0 {
			return byteRange{}, rangeUnsatisfiable
		}
		n = min(n, size)
		return byteRange{start: size - n, length: n}, rangeSingle
	}
	start, ok := parseDigits(first)
	if !ok {
		return byteRange{}, rangeNone
	}
	end := int64(-1)
	if last != "" {
		if end, ok = parseDigits(last); !ok || end < start {
			return byteRange{}, rangeNone
		}
	}
	if start >= size {
		return byteRange{}, rangeUnsatisfiable
	}
	if end < 0 || end >= size {
		end = size - 1
	}
	return byteRange{start: start, length: end - start + 1}, rangeSingle
}

// parseDigits parses 1 to 18 decimal digits (no sign, no spaces): below 10^18, no overflow.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
