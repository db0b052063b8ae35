package tus_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"valise/httpd/tus"
	"valise/internal/poll"
)

// TestStatus drives every status the handler answers, each a named case, over TLS against
// the file backend.
func TestStatus(t *testing.T) {
	e := newEnv(t, envConfig{maxSize: 1 << 20, ttl: time.Hour})
	data := []byte("hello, resumable world")
	n := int64(len(data))
	lenHdr := map[string]string{"Upload-Length": strconv.FormatInt(n, 10)}

	cases := []struct {
		name   string
		do     func(t *testing.T) (result, string) // the response and the upload it concerns
		status int
		code   string                                    // the JSON error code; "" on success
		check  func(t *testing.T, res result, id string) // optional
	}{
		{
			name: "OPTIONS advertises the protocol 204",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodOptions, noTus: true}), ""
			},
			status: http.StatusNoContent,
			check: func(t *testing.T, res result, _ string) {
				want := map[string]string{
					"Tus-Version":            "1.0.0",
					"Tus-Extension":          tus.Extensions,
					"Tus-Max-Size":           strconv.Itoa(1 << 20),
					"Tus-Checksum-Algorithm": "sha1,sha256",
				}
				for k, v := range want {
					if got := res.header.Get(k); got != v {
						t.Errorf("%s = %q, want %q", k, got, v)
					}
				}
			},
		},
		{
			name: "no Tus-Resumable 412",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, header: lenHdr, noTus: true}), ""
			},
			status: http.StatusPreconditionFailed, code: "tus_version_unsupported",
			check: func(t *testing.T, res result, _ string) {
				if res.header.Get("Tus-Version") != "1.0.0" {
					t.Errorf("Tus-Version %q", res.header.Get("Tus-Version"))
				}
			},
		},
		{
			name: "wrong Tus-Resumable 412",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, header: map[string]string{"Upload-Length": "1", "Tus-Resumable": "0.2.2"}}), ""
			},
			status: http.StatusPreconditionFailed, code: "tus_version_unsupported",
		},
		{
			name: "no credentials 401",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, header: lenHdr, noAuth: true}), ""
			},
			status: http.StatusUnauthorized, code: "unauthorized",
		},
		{
			name: "OPTIONS without credentials 401",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodOptions, noTus: true, noAuth: true}), ""
			},
			status: http.StatusUnauthorized, code: "unauthorized",
		},
		{
			// Issue 18: a valid credential checked while the metadata elects a leader is not
			// refused (401 tells a client to drop it) but deferred: 503 and Retry-After.
			name: "credential not checkable: no leader 503 with Retry-After",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, header: lenHdr, as: principalNoLeader}), ""
			},
			status: http.StatusServiceUnavailable, code: "unavailable",
			check: func(t *testing.T, res result, _ string) {
				if res.header.Get("Retry-After") == "" {
					t.Error("no Retry-After")
				}
			},
		},
		{
			name: "credential not checkable: broken store 500",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPatch, path: "/abc", header: map[string]string{"Upload-Offset": "0"}, as: principalBroken}), ""
			},
			status: http.StatusInternalServerError, code: "internal",
		},
		{
			name: "off the prefix 404",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, rawPath: "/api/v1/uploadsX", header: lenHdr}), ""
			},
			status: http.StatusNotFound, code: "not_found",
		},
		{
			name: "malformed ID 404",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPatch, path: "/a/b", header: map[string]string{"Upload-Offset": "0"}}), ""
			},
			status: http.StatusNotFound, code: "not_found",
		},
		{
			name: "POST creates 201 with Location and Upload-Expires",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, header: map[string]string{"Upload-Length": "5", "Upload-Metadata": "filename cmVwb3J0LnBkZg==,empty"}}), ""
			},
			status: http.StatusCreated,
			check: func(t *testing.T, res result, _ string) {
				if !strings.HasPrefix(res.header.Get("Location"), "/api/v1/uploads/") {
					t.Errorf("Location %q", res.header.Get("Location"))
				}
				if _, err := http.ParseTime(res.header.Get("Upload-Expires")); err != nil {
					t.Errorf("Upload-Expires %q: %v", res.header.Get("Upload-Expires"), err)
				}
			},
		},
		{
			name: "POST to the collection with a trailing slash 201",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, path: "/", header: lenHdr}), ""
			},
			status: http.StatusCreated,
		},
		{
			name: "POST without Upload-Length 400",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost}), ""
			},
			status: http.StatusBadRequest, code: "bad_upload_length",
		},
		{
			name: "POST with a negative Upload-Length 400",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, header: map[string]string{"Upload-Length": "-1"}}), ""
			},
			status: http.StatusBadRequest, code: "bad_upload_length",
		},
		{
			name: "POST over the maximum size 413 before any byte",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, header: map[string]string{"Upload-Length": strconv.Itoa(1<<20 + 1)}}), ""
			},
			status: http.StatusRequestEntityTooLarge, code: "upload_too_large",
		},
		{
			name: "POST with malformed metadata 400",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, header: map[string]string{"Upload-Length": "1", "Upload-Metadata": "filename !!notbase64"}}), ""
			},
			status: http.StatusBadRequest, code: "bad_metadata",
		},
		{
			name: "POST with a filename the backend refuses 400",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, header: map[string]string{"Upload-Length": "1", "Upload-Metadata": "filename Li4vLi4vZXRjL3Bhc3N3ZA=="}}), ""
			},
			status: http.StatusBadRequest, code: "bad_metadata",
		},
		{
			name: "POST with deferred length 400",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, header: map[string]string{"Upload-Defer-Length": "1"}}), ""
			},
			status: http.StatusBadRequest, code: "defer_length_unsupported",
		},
		{
			name: "creation-with-upload 201 with Upload-Offset",
			do: func(*testing.T) (result, string) {
				res := e.must(req{method: http.MethodPost, header: map[string]string{
					"Upload-Length": strconv.FormatInt(n, 10), "Content-Type": tus.OffsetContentType, "Upload-Checksum": sha256Header(data),
				}, body: bytes.NewReader(data), length: n})
				return res, strings.TrimPrefix(res.header.Get("Location"), "/api/v1/uploads/")
			},
			status: http.StatusCreated,
			check: func(t *testing.T, res result, id string) {
				if res.header.Get("Upload-Offset") != strconv.FormatInt(n, 10) {
					t.Errorf("Upload-Offset %q", res.header.Get("Upload-Offset"))
				}
				if sum, _ := e.stored(id); sum != sha256Sum(data) {
					t.Error("stored bytes differ")
				}
			},
		},
		{
			name: "creation-with-upload with another content type 415",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodPost, header: map[string]string{"Upload-Length": "3", "Content-Type": "text/plain"}, body: strings.NewReader("abc"), length: 3}), ""
			},
			status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
		},
		{
			name: "HEAD 200 with offset, length, no-store, expiry and metadata",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "filename YS50eHQ=")
				e.patch(id, 0, data[:5], nil)
				return e.must(req{method: http.MethodHead, path: "/" + id}), id
			},
			status: http.StatusOK,
			check: func(t *testing.T, res result, _ string) {
				want := map[string]string{
					"Upload-Offset":   "5",
					"Upload-Length":   strconv.FormatInt(n, 10),
					"Cache-Control":   "no-store",
					"Tus-Resumable":   "1.0.0",
					"Upload-Metadata": "filename YS50eHQ=",
				}
				for k, v := range want {
					if got := res.header.Get(k); got != v {
						t.Errorf("%s = %q, want %q", k, got, v)
					}
				}
				if _, err := http.ParseTime(res.header.Get("Upload-Expires")); err != nil {
					t.Errorf("Upload-Expires %q: %v", res.header.Get("Upload-Expires"), err)
				}
			},
		},
		{
			name: "HEAD of an unknown upload 404",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodHead, path: "/0123456789abcdef"}), ""
			},
			status: http.StatusNotFound,
		},
		{
			name: "HEAD of another principal's upload 404",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				return e.must(req{method: http.MethodHead, path: "/" + id, as: "mallory"}), id
			},
			status: http.StatusNotFound,
		},
		{
			name: "PATCH appends 204 with the new offset",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				e.patch(id, 0, data[:7], nil)
				return e.patch(id, 7, data[7:], nil), id
			},
			status: http.StatusNoContent,
			check: func(t *testing.T, res result, id string) {
				if res.header.Get("Upload-Offset") != strconv.FormatInt(n, 10) {
					t.Errorf("Upload-Offset %q", res.header.Get("Upload-Offset"))
				}
				if sum, _ := e.stored(id); sum != sha256Sum(data) {
					t.Error("stored bytes differ")
				}
			},
		},
		{
			name: "PATCH at a wrong offset 409",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				e.patch(id, 0, data[:7], nil)
				return e.patch(id, 3, data[3:], nil), id
			},
			status: http.StatusConflict, code: "offset_mismatch",
			check: func(t *testing.T, res result, id string) {
				if got := e.offset(id); got != 7 {
					t.Errorf("offset %d after a refused chunk, want 7", got)
				}
			},
		},
		{
			name: "PATCH without Upload-Offset 400",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				return e.must(req{method: http.MethodPatch, path: "/" + id, header: map[string]string{"Content-Type": tus.OffsetContentType}, body: bytes.NewReader(data), length: n}), id
			},
			status: http.StatusBadRequest, code: "bad_upload_offset",
		},
		{
			name: "PATCH with a wrong content type 415",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				return e.patch(id, 0, data, map[string]string{"Content-Type": "application/octet-stream"}), id
			},
			status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
		},
		{
			name: "PATCH with a bad checksum 460 and rolled back",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				e.patch(id, 0, data[:4], nil)
				return e.patch(id, 4, data[4:], map[string]string{"Upload-Checksum": sha256Header(data)}), id
			},
			status: tus.StatusChecksumMismatch, code: "checksum_mismatch",
			check: func(t *testing.T, res result, id string) {
				if got := e.offset(id); got != 4 {
					t.Errorf("offset %d after a bad checksum, want 4", got)
				}
				if _, size := e.stored(id); size != 4 {
					t.Errorf("%d bytes stored, want 4", size)
				}
			},
		},
		{
			name: "PATCH with an unsupported checksum algorithm 400",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				return e.patch(id, 0, data, map[string]string{"Upload-Checksum": "md5 XUFAKrxLKna5cZ2REBfFkg=="}), id
			},
			status: http.StatusBadRequest, code: "checksum_algorithm_unsupported",
		},
		{
			name: "PATCH with a malformed checksum 400",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				return e.patch(id, 0, data, map[string]string{"Upload-Checksum": "sha1 c2hvcnQ="}), id
			},
			status: http.StatusBadRequest, code: "bad_checksum",
		},
		{
			name: "PATCH with a Content-Length past Upload-Length 413 before any byte",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				return e.patch(id, 0, append(bytes.Clone(data), "extra"...), nil), id
			},
			status: http.StatusRequestEntityTooLarge, code: "upload_too_large",
			check: func(t *testing.T, res result, id string) {
				if _, size := e.stored(id); size != 0 {
					t.Errorf("%d bytes stored, want 0", size)
				}
			},
		},
		{
			name: "PATCH with a chunked body past Upload-Length 413 and nothing stored past it",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				body := io.MultiReader(bytes.NewReader(data), strings.NewReader("extra bytes"))
				return e.must(req{method: http.MethodPatch, path: "/" + id, header: map[string]string{
					"Content-Type": tus.OffsetContentType, "Upload-Offset": "0",
				}, body: body, length: -1}), id
			},
			status: http.StatusRequestEntityTooLarge, code: "upload_too_large",
			check: func(t *testing.T, res result, id string) {
				if _, size := e.stored(id); size > n {
					t.Errorf("%d bytes stored, past the length %d", size, n)
				}
				if got := e.offset(id); got != 0 {
					t.Errorf("offset %d after an oversized chunk, want 0 (rolled back)", got)
				}
			},
		},
		{
			name: "PATCH while another PATCH writes 423",
			do: func(t *testing.T) (result, string) {
				// The first body must outgrow the client's 256 KiB write buffer to be sent.
				big := randomBytes(1<<20, 10)
				id := e.create(int64(len(big)), "")
				pr, pw := io.Pipe()
				done := make(chan error, 1)
				go func() {
					res, err := e.do(req{method: http.MethodPatch, path: "/" + id, header: map[string]string{
						"Content-Type": tus.OffsetContentType, "Upload-Offset": "0",
					}, body: pr, length: int64(len(big))})
					if err == nil && res.status != http.StatusNoContent {
						err = fmt.Errorf("first PATCH: %d %s", res.status, res.body)
					}
					done <- err
				}()
				if _, err := pw.Write(big[:512<<10]); err != nil {
					t.Fatal(err)
				}
				poll.Until(t, "the first PATCH to be writing", func() bool { return e.backend.Writing(id) })
				res := e.patch(id, 0, big, nil)
				if _, err := pw.Write(big[512<<10:]); err != nil {
					t.Fatal(err)
				}
				pw.Close()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				return res, id
			},
			status: http.StatusLocked, code: "upload_locked",
		},
		{
			name: "PATCH of an unknown upload 404",
			do: func(*testing.T) (result, string) {
				return e.patch("0123456789abcdef", 0, data, nil), ""
			},
			status: http.StatusNotFound, code: "upload_not_found",
		},
		{
			name: "PATCH of an expired upload 410",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				e.advance(2 * time.Hour)
				defer e.advance(-2 * time.Hour)
				return e.patch(id, 0, data, nil), id
			},
			status: http.StatusGone, code: "upload_expired",
		},
		{
			name: "HEAD of an expired upload 410",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				e.advance(2 * time.Hour)
				defer e.advance(-2 * time.Hour)
				return e.must(req{method: http.MethodHead, path: "/" + id}), id
			},
			status: http.StatusGone,
		},
		{
			name: "DELETE terminates 204 and the upload is gone",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				e.patch(id, 0, data[:3], nil)
				return e.must(req{method: http.MethodDelete, path: "/" + id}), id
			},
			status: http.StatusNoContent,
			check: func(t *testing.T, res result, id string) {
				if r := e.must(req{method: http.MethodHead, path: "/" + id}); r.status != http.StatusNotFound {
					t.Errorf("HEAD after DELETE: %d, want 404", r.status)
				}
			},
		},
		{
			name: "DELETE of an unknown upload 404",
			do: func(*testing.T) (result, string) {
				return e.must(req{method: http.MethodDelete, path: "/0123456789abcdef"}), ""
			},
			status: http.StatusNotFound, code: "upload_not_found",
		},
		{
			name: "GET of an upload 405",
			do: func(*testing.T) (result, string) {
				id := e.create(n, "")
				return e.must(req{method: http.MethodGet, path: "/" + id}), id
			},
			status: http.StatusMethodNotAllowed, code: "method_not_allowed",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, id := tc.do(t)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", res.status, tc.status, res.body)
			}
			if res.header.Get("Tus-Resumable") != "1.0.0" {
				t.Errorf("Tus-Resumable %q", res.header.Get("Tus-Resumable"))
			}
			if tc.code != "" {
				var body struct{ Code, Message string }
				if err := json.Unmarshal(res.body, &body); err != nil {
					t.Fatalf("error body %q: %v", res.body, err)
				}
				if body.Code != tc.code || body.Message == "" {
					t.Errorf("error %+v, want code %q and a message", body, tc.code)
				}
			}
			if tc.check != nil {
				tc.check(t, res, id)
			}
		})
	}
}
