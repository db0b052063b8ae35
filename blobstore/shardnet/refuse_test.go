package shardnet

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"valise/blobstore"
	"valise/internal/clusternet"
	"valise/internal/clusternet/clustertest"
	"valise/internal/testlog"
)

// TestServerRefusesBadFrames: a peer that breaks the protocol gets a clear ErrProtocol reply
// and its connection closed; nothing reaches the disk.
func TestServerRefusesBadFrames(t *testing.T) {
	ca := clustertest.NewCA(t)
	mux := func(id string) *clusternet.Mux {
		cfg := clusternet.DefaultConfig()
		cfg.NodeID, cfg.Cert, cfg.CA, cfg.ListenAddr = id, ca.NodeCert(t, id), ca.Pool(), "127.0.0.1:0"
		m, err := clusternet.Listen(cfg, testlog.New(t, slog.LevelWarn))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	sm, cm := mux("server"), mux("client")
	dir := t.TempDir()
	disk, err := blobstore.NewDirDisk("d", dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(sm, map[blobstore.DiskID]blobstore.Disk{"d": disk}, DefaultServerConfig(), testlog.New(t, slog.LevelError))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hello := reqFrame(opHello, Version)
	openReq := func(name string) []byte {
		out, start := beginFrame(nil, opCreate)
		out = appendString(appendString(out, "d"), name)
		return endFrame(append(out, 1), start)
	}
	for _, tc := range []struct {
		name   string
		frames [][]byte // sent in order; the last one is refused
	}{
		{"request before hello", [][]byte{openReq("a")}},
		{"wrong version", [][]byte{reqFrame(opHello, Version+1)}},
		{"frame over the bound", [][]byte{hello, {opWrite, 0x7f, 0xff, 0xff, 0xff}}},
		{"unknown op", [][]byte{hello, reqFrame('?')}},
		{"name escaping the disk", [][]byte{hello, openReq("../escape")}},
		{"read over a chunk", [][]byte{hello, reqFrame(opRead, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0)}},
		{"trailing bytes", [][]byte{hello, reqFrame(opSync, 1)}},
		{"negative offset", [][]byte{hello, reqFrame(opTruncate, 0x80, 0, 0, 0, 0, 0, 0, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := cm.Dial(t.Context(), clusternet.ProtoShard, sm.Addr().String(), "server")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Minute)) // a hang guard only
			r := bufio.NewReader(c)
			for i, f := range tc.frames {
				if _, err := c.Write(f); err != nil {
					t.Fatal(err)
				}
				fr, _, err := readFrame(r, nil)
				if err != nil {
					t.Fatalf("frame %d: no reply: %v", i, err)
				}
				if i < len(tc.frames)-1 {
					if fr.typ != statusOK {
						t.Fatalf("frame %d: %v", i, parseError("server", fr.payload))
					}
					continue
				}
				if err := parseError("server", fr.payload); fr.typ != statusError || !errors.Is(err, ErrProtocol) {
					t.Fatalf("reply to the bad frame: type %d, %v; want an ErrProtocol error", fr.typ, err)
				}
			}
			if _, _, err := readFrame(r, nil); !errors.Is(err, io.EOF) {
				t.Fatalf("after the refusal: %v, want the connection closed", err)
			}
		})
	}
	if names, err := disk.List(t.Context(), "a"); err != nil || len(names) != 0 {
		t.Fatalf("disk after the refusals holds %q, %v", names, err)
	}
}
