package shardnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func reqFrame(op byte, payload ...byte) []byte {
	out, start := beginFrame(nil, op)
	return endFrame(append(out, payload...), start)
}

// FuzzParseRequest: whatever a peer sends, the server's frame reader and request parser return
// a request within the protocol's bounds or an error, never panic, and never allocate more
// than one frame (the parser of outside input, docs/style.md §8).
func FuzzParseRequest(f *testing.F) {
	f.Add(reqFrame(opHello, Version))
	f.Add(reqFrame(opOpen, 0, 1, 'd', 0, 3, 'a', '/', 'b'))
	f.Add(reqFrame(opCreate, 0, 1, 'd', 0, 1, 'a', 1))
	f.Add(reqFrame(opRename, 0, 1, 'd', 0, 1, 'a', 0, 1, 'b'))
	f.Add(reqFrame(opRead, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0x10, 0, 0))
	f.Add(reqFrame(opWrite, 0, 0, 0, 0, 0, 0, 0, 9, 'x', 'y'))
	f.Add(reqFrame(opWillNeed, make([]byte, 16)...))
	f.Add([]byte{opWrite, 0xff, 0xff, 0xff, 0xff})
	f.Add(reqFrame(opOpen, 0, 2, '.', '.'))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, buf, err := readFrame(bytes.NewReader(data), nil)
		if cap(buf) > frameHeader+MaxPayload+4096 {
			t.Fatalf("frame buffer of %d bytes", cap(buf))
		}
		if err != nil {
			return
		}
		req, err := parseRequest(fr)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("refusal %v does not wrap ErrProtocol", err)
			}
			return
		}
		if req.off < 0 || req.n < 0 || len(req.data) > MaxChunk || len(req.disk) > maxName {
			t.Fatalf("request out of bounds: off %d n %d data %d disk %d", req.off, req.n, len(req.data), len(req.disk))
		}
		if req.op == opRead && req.n > MaxChunk {
			t.Fatalf("read of %d bytes accepted", req.n)
		}
		for _, n := range []string{req.name, req.newName} {
			if n != "" && validName(n) != nil {
				t.Fatalf("bad name %q accepted", n)
			}
		}
	})
}

// FuzzParseError: whatever error reply a peer sends, the client decodes a bounded
// *RemoteError or refuses it, never panics.
func FuzzParseError(f *testing.F) {
	f.Add(appendError(nil, errNoFile)[frameHeader:])
	f.Add([]byte{kindNotExist, 0, 0, 0, 2, 0, 1, 'x'})
	f.Add([]byte{kindOther, 0, 0, 0, 0, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		err := parseError("peer", data)
		var re *RemoteError
		if errors.As(err, &re) {
			if len(re.Text) > maxErrText {
				t.Fatalf("error text of %d bytes accepted", len(re.Text))
			}
			if !errors.Is(err, ErrRemote) {
				t.Fatal("a remote error does not wrap ErrRemote")
			}
			return
		}
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("refusal %v does not wrap ErrProtocol", err)
		}
	})
}

// TestListFrames: a list larger than one frame travels in several, each within MaxPayload.
func TestListFrames(t *testing.T) {
	var names []string
	for i := range 3000 {
		names = append(names, string(bytes.Repeat([]byte{'a' + byte(i%26)}, maxName)))
	}
	out := appendList(nil, names)
	var got []string
	frames := 0
	for r := bytes.NewReader(out); r.Len() > 0; {
		fr, _, err := readFrame(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		frames++
		d := decoder{b: fr.payload[1:]}
		for len(d.b) > 0 && d.err == nil {
			got = append(got, d.str(maxName, "name"))
		}
		if more := fr.payload[0]; (more == 1) != (r.Len() > 0) {
			t.Fatalf("frame %d: more = %d with %d bytes left", frames, more, r.Len())
		}
	}
	if len(got) != len(names) || frames < 2 {
		t.Fatalf("%d names in %d frames, want %d in several", len(got), frames, len(names))
	}
	if n := binary.BigEndian.Uint32(out[1:]); n > MaxPayload {
		t.Fatalf("first frame of %d bytes", n)
	}
}
