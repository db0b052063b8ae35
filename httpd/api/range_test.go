package api

import (
	"bytes"
	"strconv"
	"testing"
)

// TestParseRange pins the Range rules: one range served (206), a range past the end or an
// empty suffix refused (416), anything else — several ranges, another unit, bad syntax —
// answered with the whole file (200), as RFC 9110 allows.
func TestParseRange(t *testing.T) {
	const size = 1000
	for _, tc := range []struct {
		name          string
		header        string
		kind          rangeKind
		start, length int64
	}{
		{"none", "", rangeNone, 0, 0},
		{"first byte", "bytes=0-0", rangeSingle, 0, 1},
		{"first half", "bytes=0-499", rangeSingle, 0, 500},
		{"open end", "bytes=500-", rangeSingle, 500, 500},
		{"end past size is clamped", "bytes=900-5000", rangeSingle, 900, 100},
		{"last byte", "bytes=999-999", rangeSingle, 999, 1},
		{"suffix", "bytes=-100", rangeSingle, 900, 100},
		{"suffix longer than file", "bytes=-5000", rangeSingle, 0, size},
		{"spaces", "bytes = 10-19 ", rangeSingle, 10, 10},
		{"unit case", "Bytes=10-19", rangeSingle, 10, 10},
		{"start at size", "bytes=1000-", rangeUnsatisfiable, 0, 0},
		{"beyond end", "bytes=5000-6000", rangeUnsatisfiable, 0, 0},
		{"empty suffix", "bytes=-0", rangeUnsatisfiable, 0, 0},
		{"multiple ranges", "bytes=0-0,5-9", rangeNone, 0, 0},
		{"multiple with one beyond", "bytes=0-0,5000-", rangeNone, 0, 0},
		{"reversed", "bytes=9-5", rangeNone, 0, 0},
		{"other unit", "items=0-5", rangeNone, 0, 0},
		{"no dash", "bytes=5", rangeNone, 0, 0},
		{"negative", "bytes=-5-10", rangeNone, 0, 0},
		{"sign", "bytes=+5-10", rangeNone, 0, 0},
		{"overflow", "bytes=99999999999999999999-", rangeNone, 0, 0},
		{"empty set", "bytes=", rangeNone, 0, 0},
		{"only commas", "bytes=,,", rangeNone, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, kind := parseRange(tc.header, size)
			if kind != tc.kind || (kind == rangeSingle && (r.start != tc.start || r.length != tc.length)) {
				t.Fatalf("parseRange(%q) = %+v, %d; want {%d %d}, %d", tc.header, r, kind, tc.start, tc.length, tc.kind)
			}
		})
	}
	if _, kind := parseRange("bytes=0-", 0); kind != rangeUnsatisfiable {
		t.Errorf("empty file, bytes=0-: kind %d", kind)
	}
	if _, kind := parseRange("bytes=-1", 0); kind != rangeUnsatisfiable {
		t.Errorf("empty file, suffix: kind %d", kind)
	}
}

// TestRangeDownloads checks the Range edge cases end to end, validated against OpenAPI:
// suffix, clamped end, beyond the end (416 with Content-Range: bytes */size), multiple
// ranges (200, the whole file: documented), a stale If-Range (200), HEAD (headers only).
func TestRangeDownloads(t *testing.T) {
	w := newWorld(t)
	a, bearer := w.user("ray@example.org", "Ray")
	data := randomData(10_000, 7)
	f := w.upload(a.ID, "data.bin", data)
	mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{To: []string{"s@example.org"}, Files: []string{string(f.ID)}}), 201)
	dl := "/s/" + linkToken(t, w.outbox(1)[0]) + "/files/" + string(f.ID)
	etag := `"` + f.SHA256 + `"`
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		status int
		body   []byte
		crange string
	}{
		{"whole", nil, 200, data, ""},
		{"suffix", map[string]string{"Range": "bytes=-100"}, 206, data[9900:], "bytes 9900-9999/10000"},
		{"clamped", map[string]string{"Range": "bytes=9990-20000"}, 206, data[9990:], "bytes 9990-9999/10000"},
		{"middle", map[string]string{"Range": "bytes=4096-8191"}, 206, data[4096:8192], "bytes 4096-8191/10000"},
		{"beyond end", map[string]string{"Range": "bytes=10000-"}, 416, nil, "bytes */10000"},
		{"multiple", map[string]string{"Range": "bytes=0-0,5-9"}, 200, data, ""},
		{"if-range match", map[string]string{"Range": "bytes=5000-", "If-Range": etag}, 206, data[5000:], "bytes 5000-9999/10000"},
		{"if-range stale", map[string]string{"Range": "bytes=5000-", "If-Range": `"0000"`}, 200, data, ""},
		{"if-range date", map[string]string{"Range": "bytes=5000-", "If-Range": "Mon, 23 Nov 2026 10:00:00 GMT"}, 200, data, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.call("GET", dl, tc.hdr, nil, true)
			mustStatus(t, r, tc.status)
			if got := r.Header.Get("Content-Range"); got != tc.crange {
				t.Errorf("Content-Range %q, want %q", got, tc.crange)
			}
			if tc.body != nil && !bytes.Equal(r.body, tc.body) {
				t.Errorf("body: %d bytes, want %d", len(r.body), len(tc.body))
			}
			if tc.status != 416 {
				checkDownloadHeaders(t, r, f.SHA256)
				if got := r.Header.Get("Content-Length"); got != strconv.Itoa(len(tc.body)) {
					t.Errorf("Content-Length %q", got)
				}
			}
		})
	}
	t.Run("head", func(t *testing.T) {
		r := w.call("HEAD", dl, map[string]string{"Range": "bytes=100-199"}, nil, true)
		mustStatus(t, r, 206)
		if len(r.body) != 0 || r.Header.Get("Content-Length") != "100" || r.Header.Get("Content-Range") != "bytes 100-199/10000" {
			t.Fatalf("HEAD: %v %d bytes", r.Header, len(r.body))
		}
	})
	// Downloads count by bytes served, not by requests that reached the last byte (issue 16
	// item 9): 10 000 (whole) + 100 + 10 + 4 096 + 10 000 (multiple) + 5 000 + 10 000 +
	// 10 000 (the If-Range fallbacks) = 49 206 bytes, 4 whole files; HEAD and 416 serve none.
	var list sendsJSON
	w.api("GET", "/api/v1/sends", bearer, nil).json(t, &list)
	if got := list.Sends[0].Files[0].Downloads; got != 4 {
		t.Errorf("complete downloads %d, want 4", got)
	}
}

// FuzzParseRange: any header, any size: never a panic, and a served range lies inside the
// file.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-", "bytes=-1", "bytes=0-0,1-1", "bytes=5-2", "bytes=99999999999999999-", "bytes=-", "bytes= -5", "items=1-2", "bytes=1-2-3", "bytes=\x00-1"} {
		f.Add(s, int64(1000))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		r, kind := parseRange(h, size)
		if kind == rangeSingle {
			if size <= 0 || r.start < 0 || r.length < 1 || r.start+r.length > size {
				t.Fatalf("parseRange(%q, %d) = %+v outside the file", h, size, r)
			}
		}
	})
}
