package tus_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"valise/httpd/tus"
	"valise/internal/poll"
)

// errCut is what the client's body returns to make net/http drop the connection.
var errCut = errors.New("client cut")

// cutReader yields data up to cut, then fails.
type cutReader struct {
	data []byte
	cut  int
	pos  int
}

func (r *cutReader) Read(p []byte) (int, error) {
	if r.pos >= r.cut {
		return 0, errCut
	}
	n := copy(p, r.data[r.pos:r.cut])
	r.pos += n
	return n, nil
}

// TestResumeAfterClientCut uploads 64 MiB in 8 MiB chunks, cuts the connection in the
// middle of the fourth chunk, asks HEAD where to resume, and finishes: the stored bytes are
// the source's, nothing stored twice.
func TestResumeAfterClientCut(t *testing.T) {
	const size, chunk = 64 << 20, 8 << 20
	e := newEnv(t, envConfig{maxSize: size})
	src := randomBytes(size, 1)
	id := e.create(size, "")

	var acked int64
	for range 3 {
		res := e.patch(id, acked, src[acked:acked+chunk], nil)
		if res.status != http.StatusNoContent {
			t.Fatalf("chunk at %d: %d %s", acked, res.status, res.body)
		}
		acked += chunk
	}

	// The fourth chunk: 3 MiB of its 8 MiB, then the client drops the connection.
	const sent = 3 << 20
	_, err := e.do(req{method: http.MethodPatch, path: "/" + id, header: map[string]string{
		"Content-Type": tus.OffsetContentType, "Upload-Offset": strconv.FormatInt(acked, 10),
	}, body: &cutReader{data: src[acked : acked+chunk], cut: sent}, length: chunk})
	if !errors.Is(err, errCut) {
		t.Fatalf("cut PATCH: %v, want the client's cut", err)
	}
	poll.Until(t, "the server to finish the cut chunk", func() bool { return e.backend.Writes(id) == 4 })

	off := e.offset(id)
	t.Logf("acknowledged %d, sent %d more, HEAD says %d", acked, sent, off)
	if off < acked || off > acked+sent {
		t.Fatalf("offset %d after the cut, want within [%d, %d]", off, acked, acked+sent)
	}
	for off < size {
		end := min(off+chunk, size)
		res := e.patch(id, off, src[off:end], nil)
		if res.status != http.StatusNoContent || res.header.Get("Upload-Offset") != strconv.FormatInt(end, 10) {
			t.Fatalf("resume at %d: %d %q %s", off, res.status, res.header.Get("Upload-Offset"), res.body)
		}
		off = end
	}
	sum, n := e.stored(id)
	if n != size || sum != sha256.Sum256(src) {
		t.Fatalf("stored %d bytes with another SHA-256, want the source's %d", n, size)
	}
}

// TestResumeAfterRestart reopens the backend on the same directory, as a node restart
// does, and finishes the upload at the offset HEAD gives.
func TestResumeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	src := randomBytes(3<<20, 2)
	first := newEnv(t, envConfig{dir: dir})
	id := first.create(int64(len(src)), "filename YS5iaW4=")
	if res := first.patch(id, 0, src[:1<<20], nil); res.status != http.StatusNoContent {
		t.Fatalf("first chunk: %d", res.status)
	}

	second := newEnv(t, envConfig{dir: dir})
	off := second.offset(id)
	if off != 1<<20 {
		t.Fatalf("offset %d after the restart, want %d", off, 1<<20)
	}
	if res := second.patch(id, off, src[off:], nil); res.status != http.StatusNoContent {
		t.Fatalf("resume: %d %s", res.status, res.body)
	}
	if sum, _ := second.stored(id); sum != sha256.Sum256(src) {
		t.Fatal("stored bytes differ from the source")
	}
}

// TestChecksum accepts chunks carrying a correct sha1 or sha256 digest, and refuses a
// wrong one with 460, rolling the chunk back.
func TestChecksum(t *testing.T) {
	e := newEnv(t, envConfig{})
	src := randomBytes(3<<20, 3)
	for _, tc := range []struct {
		name   string
		header func(chunk []byte) string
		status int
	}{
		{"sha1 accepted", sha1Header, http.StatusNoContent},
		{"sha256 accepted", sha256Header, http.StatusNoContent},
		{"sha256 of other bytes refused", func(c []byte) string { return sha256Header(c[1:]) }, tus.StatusChecksumMismatch},
		{"sha1 of other bytes refused", func(c []byte) string { return sha1Header(append([]byte{0}, c...)) }, tus.StatusChecksumMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.create(int64(len(src)), "")
			const half = 1 << 20
			if res := e.patch(id, 0, src[:half], map[string]string{"Upload-Checksum": sha256Header(src[:half])}); res.status != http.StatusNoContent {
				t.Fatalf("first chunk: %d %s", res.status, res.body)
			}
			res := e.patch(id, half, src[half:], map[string]string{"Upload-Checksum": tc.header(src[half:])})
			if res.status != tc.status {
				t.Fatalf("second chunk: %d, want %d; %s", res.status, tc.status, res.body)
			}
			want := int64(len(src))
			if tc.status != http.StatusNoContent {
				want = half
			}
			if got := e.offset(id); got != want {
				t.Fatalf("HEAD offset %d, want %d", got, want)
			}
			if _, n := e.stored(id); n != want {
				t.Fatalf("%d bytes stored, want %d", n, want)
			}
		})
	}
}

// TestConcurrentPatch: while one PATCH writes an upload, another on the same upload gets
// 423 Locked at once; once the first is done, a PATCH at the stale offset gets 409.
func TestConcurrentPatch(t *testing.T) {
	e := newEnv(t, envConfig{})
	src := randomBytes(2<<20, 4)
	id := e.create(int64(len(src)), "")

	pr, pw := io.Pipe()
	type outcome struct {
		res result
		err error
	}
	first := make(chan outcome, 1)
	go func() {
		res, err := e.do(req{method: http.MethodPatch, path: "/" + id, header: map[string]string{
			"Content-Type": tus.OffsetContentType, "Upload-Offset": "0",
		}, body: pr, length: int64(len(src))})
		first <- outcome{res, err}
	}()
	// More than the client's 256 KiB write buffer, so that it is sent.
	if _, err := pw.Write(src[:512<<10]); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the first PATCH to be writing", func() bool { return e.backend.Writing(id) })

	if res := e.patch(id, 0, src, nil); res.status != http.StatusLocked {
		t.Fatalf("second PATCH while the first writes: %d, want 423; %s", res.status, res.body)
	}
	if res := e.must(req{method: http.MethodDelete, path: "/" + id}); res.status != http.StatusLocked {
		t.Fatalf("DELETE while a PATCH writes: %d, want 423", res.status)
	}
	if _, err := pw.Write(src[512<<10:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	o := <-first
	if o.err != nil || o.res.status != http.StatusNoContent {
		t.Fatalf("first PATCH: %v %d %s", o.err, o.res.status, o.res.body)
	}
	if res := e.patch(id, 0, src, nil); res.status != http.StatusConflict {
		t.Fatalf("PATCH at the stale offset: %d, want 409", res.status)
	}
	if sum, _ := e.stored(id); sum != sha256.Sum256(src) {
		t.Fatal("stored bytes differ")
	}
}

// TestConcurrentPatchRace sends the same chunk twice at once: exactly one wins; the other
// gets 423 (it came while the winner wrote) or 409 (it came after); nothing is stored twice.
func TestConcurrentPatchRace(t *testing.T) {
	e := newEnv(t, envConfig{})
	src := randomBytes(4<<20, 5)
	id := e.create(int64(len(src)), "")
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Go(func() {
			res, err := e.do(req{method: http.MethodPatch, path: "/" + id, header: map[string]string{
				"Content-Type": tus.OffsetContentType, "Upload-Offset": "0",
			}, body: bytes.NewReader(src), length: int64(len(src))})
			if err != nil {
				t.Error(err)
			}
			statuses[i] = res.status
		})
	}
	wg.Wait()
	won, lost := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusNoContent:
			won++
		case http.StatusConflict, http.StatusLocked:
			lost++
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("statuses %v, want one 204 and one 409 or 423", statuses)
	}
	if sum, n := e.stored(id); n != int64(len(src)) || sum != sha256.Sum256(src) {
		t.Fatalf("stored %d bytes, want exactly the source's %d", n, len(src))
	}
}

// pacedReader hands out its data in pieces, each after a pause: a slow but live client.
type pacedReader struct {
	data  []byte
	piece int
	pause time.Duration
}

func (r *pacedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	<-time.After(r.pause)
	n := copy(p[:min(len(p), r.piece)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestDeadlinePerReadNotPerBody: a body that takes longer than the server's ReadTimeout
// in total, but never stalls past the per-read deadline, is accepted.
func TestDeadlinePerReadNotPerBody(t *testing.T) {
	e := newEnv(t, envConfig{serverTimeout: 300 * time.Millisecond, readTimeout: 5 * time.Second})
	src := randomBytes(1<<20, 6)
	id := e.create(int64(len(src)), "")
	// 16 pieces 60 ms apart: about a second in all, over three ReadTimeouts.
	res := e.must(req{method: http.MethodPatch, path: "/" + id, header: map[string]string{
		"Content-Type": tus.OffsetContentType, "Upload-Offset": "0",
	}, body: &pacedReader{data: src, piece: 64 << 10, pause: 60 * time.Millisecond}, length: int64(len(src))})
	if res.status != http.StatusNoContent {
		t.Fatalf("slow PATCH: %d %s", res.status, res.body)
	}
	if got := e.offset(id); got != int64(len(src)) {
		t.Fatalf("offset %d, want %d", got, len(src))
	}
}

// TestStalledClientIsCut: a client that stops sending mid-chunk is cut after the per-read
// deadline; the bytes it sent are kept and HEAD shows them.
func TestStalledClientIsCut(t *testing.T) {
	e := newEnv(t, envConfig{readTimeout: 300 * time.Millisecond})
	src := randomBytes(1<<20, 7)
	id := e.create(int64(len(src)), "")

	conn, err := tls.Dial("tcp", strings.TrimPrefix(e.srv.URL, "https://"), e.srv.ClientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const sent = 100 << 10
	head := fmt.Sprintf("PATCH %s/%s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer alice\r\n"+
		"Content-Type: %s\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n", tus.DefaultConfig().Prefix, id, tus.OffsetContentType, len(src))
	if _, err := conn.Write(append([]byte(head), src[:sent]...)); err != nil {
		t.Fatal(err)
	}
	// Then nothing: the server must give up on its own.
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the server's answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled PATCH: %d, want 408", resp.StatusCode)
	}
	if got := e.offset(id); got != sent {
		t.Fatalf("offset %d after the stall, want the %d bytes sent", got, sent)
	}
}

// TestCutChunkWithChecksumIsDiscarded: a chunk announced with a checksum and cut short
// cannot be verified, so none of it is kept.
func TestCutChunkWithChecksumIsDiscarded(t *testing.T) {
	e := newEnv(t, envConfig{})
	src := randomBytes(2<<20, 8)
	id := e.create(int64(len(src)), "")
	_, err := e.do(req{method: http.MethodPatch, path: "/" + id, header: map[string]string{
		"Content-Type": tus.OffsetContentType, "Upload-Offset": "0", "Upload-Checksum": sha256Header(src),
	}, body: &cutReader{data: src, cut: 1 << 20}, length: int64(len(src))})
	if !errors.Is(err, errCut) {
		t.Fatalf("cut PATCH: %v, want the client's cut", err)
	}
	poll.Until(t, "the server to finish the cut chunk", func() bool { return e.backend.Writes(id) == 1 })
	if got := e.offset(id); got != 0 {
		t.Fatalf("offset %d after a cut verified chunk, want 0", got)
	}
	if _, n := e.stored(id); n != 0 {
		t.Fatalf("%d bytes stored, want 0", n)
	}
}
