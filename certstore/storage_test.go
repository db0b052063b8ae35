package certstore

import (
	"bytes"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"

	"valise/raftfsm"
)

// TestStorageContract runs one contract suite against certmagic's own FileStorage, the
// reference for the semantics certmagic expects (List, directories, fs.ErrNotExist), and
// against Storage in clear and sealed.
func TestStorageContract(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T) certmagic.Storage
	}{
		{"certmagic FileStorage", func(t *testing.T) certmagic.Storage {
			return &certmagic.FileStorage{Path: t.TempDir()}
		}},
		{"certstore clear", func(t *testing.T) certmagic.Storage {
			return newStorage(t, testConfig("node-1"), Deps{Store: singleNode(t)})
		}},
		{"certstore sealed", func(t *testing.T) certmagic.Storage {
			return newStorage(t, testConfig("node-1"), Deps{Store: singleNode(t), Sealer: newKeys(t)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { storageContract(t, tc.make(t)) })
	}
}

func storageContract(t *testing.T, s certmagic.Storage) {
	ctx := testCtx(t)
	files := map[string][]byte{
		"certificates/ca/localhost/localhost.crt":    []byte("crt localhost"),
		"certificates/ca/localhost/localhost.key":    []byte("key localhost"),
		"certificates/ca/localhost/localhost.json":   []byte(`{"sans":["localhost"]}`),
		"certificates/ca/127.0.0.1/127.0.0.1.crt":    []byte("crt ip"),
		"certificates/other/example.org/x.crt":       bytes.Repeat([]byte{0, 1, 2, 0xff}, 2000),
		"acme/ca/users/admin@example.org/admin.json": []byte("{}"),
		"top.txt": []byte(""),
	}

	t.Run("missing", func(t *testing.T) {
		if _, err := s.Load(ctx, "certificates/none.crt"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load missing: %v, want fs.ErrNotExist", err)
		}
		if _, err := s.Stat(ctx, "certificates/none.crt"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat missing: %v, want fs.ErrNotExist", err)
		}
		if _, err := s.List(ctx, "certificates", false); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("List missing: %v, want fs.ErrNotExist", err)
		}
		if s.Exists(ctx, "certificates") {
			t.Error("Exists on an empty storage")
		}
		if err := s.Delete(ctx, "certificates/none.crt"); err != nil {
			t.Errorf("Delete missing: %v, want nil", err)
		}
	})

	for k, v := range files {
		if err := s.Store(ctx, k, v); err != nil {
			t.Fatalf("Store %s: %v", k, err)
		}
	}

	t.Run("load and stat", func(t *testing.T) {
		for k, v := range files {
			got, err := s.Load(ctx, k)
			if err != nil || !bytes.Equal(got, v) {
				t.Errorf("Load %s = %q, %v; want %q", k, got, err, v)
			}
			info, err := s.Stat(ctx, k)
			if err != nil || info.Key != k || !info.IsTerminal || info.Size != int64(len(v)) || info.Modified.IsZero() {
				t.Errorf("Stat %s = %+v, %v", k, info, err)
			}
			if !s.Exists(ctx, k) {
				t.Errorf("Exists %s = false", k)
			}
		}
		info, err := s.Stat(ctx, "certificates/ca")
		if err != nil || info.IsTerminal || info.Key != "certificates/ca" {
			t.Errorf("Stat directory = %+v, %v; want a non-terminal key", info, err)
		}
		if !s.Exists(ctx, "certificates/ca/localhost") {
			t.Error("Exists on a directory = false")
		}
		if s.Exists(ctx, "certificates/c") {
			t.Error(`Exists "certificates/c" = true: a prefix is per component`)
		}
	})

	t.Run("overwrite", func(t *testing.T) {
		k := "certificates/ca/localhost/localhost.crt"
		if err := s.Store(ctx, k, []byte("renewed")); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Load(ctx, k); err != nil || string(got) != "renewed" {
			t.Errorf("Load after overwrite = %q, %v", got, err)
		}
	})

	t.Run("list", func(t *testing.T) {
		for _, lc := range []struct {
			name      string
			prefix    string
			recursive bool
			want      []string
		}{
			{"one level", "certificates", false, []string{"certificates/ca", "certificates/other"}},
			{"recursive", "certificates/ca", true, []string{
				"certificates/ca/127.0.0.1", "certificates/ca/127.0.0.1/127.0.0.1.crt",
				"certificates/ca/localhost", "certificates/ca/localhost/localhost.crt",
				"certificates/ca/localhost/localhost.json", "certificates/ca/localhost/localhost.key",
			}},
			{"files", "certificates/ca/localhost", false, []string{
				"certificates/ca/localhost/localhost.crt", "certificates/ca/localhost/localhost.json",
				"certificates/ca/localhost/localhost.key",
			}},
			{"a file", "top.txt", true, nil},
			{"root", "", false, []string{"acme", "certificates", "top.txt"}},
		} {
			t.Run(lc.name, func(t *testing.T) {
				got, err := s.List(ctx, lc.prefix, lc.recursive)
				if err != nil {
					t.Fatalf("List(%q, %v): %v", lc.prefix, lc.recursive, err)
				}
				slices.Sort(got)
				if !slices.Equal(got, lc.want) {
					t.Errorf("List(%q, %v) = %q, want %q", lc.prefix, lc.recursive, got, lc.want)
				}
			})
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := s.Delete(ctx, "certificates/ca/127.0.0.1/127.0.0.1.crt"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx, "certificates/ca/127.0.0.1/127.0.0.1.crt"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load deleted file: %v", err)
		}
		if err := s.Delete(ctx, "certificates/ca"); err != nil {
			t.Fatal(err)
		}
		for k := range files {
			if strings.HasPrefix(k, "certificates/ca/") && s.Exists(ctx, k) {
				t.Errorf("%s survived the deletion of its directory", k)
			}
		}
		if s.Exists(ctx, "certificates/ca") {
			t.Error("deleted directory still exists")
		}
		if !s.Exists(ctx, "certificates/other/example.org/x.crt") {
			t.Error("Delete of a directory removed a sibling")
		}
	})
}

// TestStorageRejectsBadKeys: an empty key would name the whole storage (FileStorage would
// remove its root on Delete); a key longer than the metadata allows must fail cleanly.
func TestStorageRejectsBadKeys(t *testing.T) {
	s := newStorage(t, testConfig("node-1"), Deps{Store: singleNode(t)})
	ctx := testCtx(t)
	for _, key := range []string{"", "/", "..", strings.Repeat("a", 600)} {
		if err := s.Store(ctx, key, []byte("x")); !errors.Is(err, ErrBadKey) {
			t.Errorf("Store(%.20q) = %v, want ErrBadKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, ErrBadKey) {
			t.Errorf("Delete(%.20q) = %v, want ErrBadKey", key, err)
		}
	}
	// "a/../b" and "/b/" are "b", as FileStorage's paths would be.
	if err := s.Store(ctx, "a/../b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx, "/b/"); err != nil || string(got) != "x" {
		t.Errorf("Load(/b/) = %q, %v", got, err)
	}
}

// TestSealedAtRest: with a Sealer, no stored value contains the clear bytes (HTTPS private
// keys never rest in clear in the metadata or its backups); a value moved to another key does
// not open; writes are journalled without their content.
func TestSealedAtRest(t *testing.T) {
	st := singleNode(t)
	keys := newKeys(t)
	s := newStorage(t, testConfig("node-1"), Deps{Store: st, Sealer: keys})
	ctx := testCtx(t)
	secret := []byte("-----BEGIN EC PRIVATE KEY----- very secret")
	if err := s.Store(ctx, "certificates/ca/h/h.key", secret); err != nil {
		t.Fatal(err)
	}
	err := st.Scan([]byte(Prefix), func(it raftfsm.Item) error {
		if bytes.Contains(it.Value, []byte("very secret")) {
			t.Errorf("%s holds the value in clear", it.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Journal(1, func(e raftfsm.Entry) error {
		if bytes.Contains(e.Details, []byte("secret")) {
			t.Errorf("journal entry %d (%s) holds key material: %s", e.Seq, e.Action, e.Details)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Move the sealed record to another key: it must not open there.
	it, err := st.Get([]byte(dataPrefix + "certificates/ca/h/h.key"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Propose(ctx, raftfsm.Batch{
		Ops:   []raftfsm.Op{{Kind: raftfsm.OpPut, Key: []byte(dataPrefix + "certificates/ca/h/h.crt"), Value: it.Value}},
		Audit: s.audit("test.move", "h", nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "certificates/ca/h/h.crt"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Load of a sealed value moved to another key: %v, want ErrCorrupt", err)
	}

	// Without the sealer the value cannot be read; with another cluster's key neither.
	other := newStorage(t, testConfig("node-1"), Deps{Store: st, Sealer: newKeys(t)})
	if _, err := other.Load(ctx, "certificates/ca/h/h.key"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Load under another key-encryption key: %v, want ErrCorrupt", err)
	}
	clearOnly := newStorage(t, testConfig("node-1"), Deps{Store: st})
	if _, err := clearOnly.Load(ctx, "certificates/ca/h/h.key"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Load without a sealer: %v, want ErrCorrupt", err)
	}
}

// TestWritesAudited: every write lands in the journal with its tls.* action and the key.
func TestWritesAudited(t *testing.T) {
	st := singleNode(t)
	s := newStorage(t, testConfig("node-1"), Deps{Store: st})
	ctx := testCtx(t)
	if err := s.Store(ctx, "k/v", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Lock(ctx, "issue_cert_localhost"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx, "issue_cert_localhost"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "k"); err != nil { // nothing left: nothing journalled
		t.Fatal(err)
	}
	var got []string
	err := st.Journal(1, func(e raftfsm.Entry) error {
		if strings.HasPrefix(e.Action, "tls.") {
			got = append(got, e.Action+" "+e.Target)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tls.store k/v", "tls.lock issue_cert_localhost", "tls.unlock issue_cert_localhost", "tls.delete k"}
	if !slices.Equal(got, want) {
		t.Errorf("journal = %q, want %q", got, want)
	}
}
