package api

import (
	"bytes"
	"strings"
	"testing"

	"valise/httpd/tus"
)

// TestTusUploadsMatchOpenAPI drives the tus handler, mounted beside the API and
// authenticated by Handler.Principal, through its answers (capabilities, creation, offset,
// chunks, a wrong offset, an oversize upload, termination, no credentials, no
// Tus-Resumable) and validates each request and response against the OpenAPI document.
func TestTusUploadsMatchOpenAPI(t *testing.T) {
	w := newWorld(t)
	_, bearer := w.user("ugo@example.org", "Ugo")
	auth := map[string]string{"Authorization": "Bearer " + bearer, "Tus-Resumable": tus.Version}
	r := w.call("OPTIONS", "/api/v1/uploads", auth, nil, true)
	mustStatus(t, r, 204)
	if r.Header.Get("Tus-Extension") == "" {
		t.Fatalf("capabilities %v", r.Header)
	}
	md := tus.FormatMetadata(map[string]string{"filename": "notes.txt"})
	r = w.call("POST", "/api/v1/uploads", withHdr(auth, "Upload-Length", "10", "Upload-Metadata", md), nil, true)
	mustStatus(t, r, 201)
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, "/api/v1/uploads/") {
		t.Fatalf("Location %q", loc)
	}
	r = w.call("PATCH", loc, withHdr(auth, "Upload-Offset", "0", "Content-Type", tus.OffsetContentType), []byte("hello"), true)
	mustStatus(t, r, 204)
	r = w.call("HEAD", loc, auth, nil, true)
	mustStatus(t, r, 200)
	if r.Header.Get("Upload-Offset") != "5" {
		t.Fatalf("offset %q", r.Header.Get("Upload-Offset"))
	}
	r = w.call("PATCH", loc, withHdr(auth, "Upload-Offset", "3", "Content-Type", tus.OffsetContentType), []byte("xx"), true)
	mustStatus(t, r, 409)
	r = w.call("PATCH", loc, withHdr(auth, "Upload-Offset", "5", "Content-Type", tus.OffsetContentType), []byte("world"), true)
	mustStatus(t, r, 204)
	r = w.call("POST", "/api/v1/uploads", withHdr(auth, "Upload-Length", "99999999"), nil, true)
	mustStatus(t, r, 413)
	mustStatus(t, w.call("DELETE", loc, auth, nil, true), 204)
	mustStatus(t, w.call("HEAD", loc, auth, nil, true), 404)
	r = w.call("POST", "/api/v1/uploads", map[string]string{"Tus-Resumable": tus.Version, "Upload-Length": "1"}, nil, false)
	mustStatus(t, r, 401)
	r = w.call("POST", "/api/v1/uploads", map[string]string{"Authorization": "Bearer " + bearer, "Upload-Length": "1"}, nil, false)
	mustStatus(t, r, 412)
	if !bytes.Contains(r.body, []byte("tus_version_unsupported")) {
		t.Fatalf("412 body %s", r.body)
	}
}
