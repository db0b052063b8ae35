package backup

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"valise/keyring"
)

// testWorkFactor is the scrypt work factor of the tests' passphrase backups: age's default
// (2^18) takes about a second each.
const testWorkFactor = 10

func testBundle(t testing.TB) keyring.Bundle {
	t.Helper()
	b := keyring.Bundle{KEK: make([]byte, 32), SigningSeed: make([]byte, ed25519.SeedSize),
		CAKeyPEM: []byte("-----BEGIN PRIVATE KEY-----\nnot a real one\n-----END PRIVATE KEY-----\n"), CAPEM: []byte("ca")}
	rand.Read(b.KEK)
	rand.Read(b.SigningSeed)
	return b
}

func fingerprint(b keyring.Bundle) string {
	return keyring.KeyFingerprint(ed25519.NewKeyFromSeed(b.SigningSeed).Public().(ed25519.PublicKey))
}

func testManifest() Manifest {
	return Manifest{
		ClusterID: "c-0123", NodeID: "node-1", Index: 1234, Term: 3, JournalSeq: 99,
		JournalHash: strings.Repeat("ab", 32), JournalSig: []byte("sig"),
		Nodes:  []Node{{ID: "node-1", Site: "paris", Address: "10.0.0.1:7000", State: "active", Disks: []string{"d1", "d2"}}},
		Layout: "2+1", Created: time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC), Version: "test",
	}
}

// testSnapshot is 300 KiB and a bit of random bytes: several chunks, the last one partial.
func testSnapshot(t testing.TB) []byte {
	b := make([]byte, 300<<10+77)
	rand.Read(b)
	return b
}

// writeSnap writes data in uneven pieces, as a snapshot writer would.
func writeSnap(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		for i, n := 0, 1; i < len(data); n = n*3 + 1 {
			j := min(len(data), i+n)
			if _, err := w.Write(data[i:j]); err != nil {
				return err
			}
			i = j
		}
		return nil
	}
}

func makeBackup(t testing.TB, p Protection, keys keyring.Bundle, snap []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, p, testManifest(), keys, writeSnap(snap)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll opens a backup, reads it whole and finishes it.
func readAll(data []byte, u Unlock, expectKey string) (*Reader, []byte, error) {
	r, err := Open(bytes.NewReader(data), u)
	if err != nil {
		return nil, nil, err
	}
	snap, err := io.ReadAll(r.Snapshot())
	if err != nil {
		return r, snap, err
	}
	return r, snap, r.Finish(expectKey)
}

func newIdentity(t testing.TB) (*age.X25519Identity, []byte) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id, []byte("# created: test\n# public key: " + id.Recipient().String() + "\n" + id.String() + "\n")
}

func TestRoundTrip(t *testing.T) {
	keys := testBundle(t)
	snap := testSnapshot(t)
	id, idFile := newIdentity(t)
	cases := []struct {
		name string
		p    Protection
		u    Unlock
	}{
		{"passphrase", Protection{Passphrase: []byte("correct horse"), ScryptWorkFactor: testWorkFactor}, Unlock{Passphrase: []byte("correct horse")}},
		{"recipient", Protection{Recipient: id.Recipient().String()}, Unlock{Identity: idFile}},
		{"empty snapshot", Protection{Passphrase: []byte("p"), ScryptWorkFactor: testWorkFactor}, Unlock{Passphrase: []byte("p")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := snap
			if tc.name == "empty snapshot" {
				want = nil
			}
			data := makeBackup(t, tc.p, keys, want)
			if !bytes.HasPrefix(data, []byte("age-encryption.org/v1\n")) || bytes.Contains(data, []byte("VALISE")) {
				t.Fatal("not an age file, or plaintext shows")
			}
			r, got, err := readAll(data, tc.u, fingerprint(keys))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("snapshot of %d bytes came back as %d bytes", len(want), len(got))
			}
			m := testManifest()
			m.Format, m.SigningKey = 1, fingerprint(keys)
			if fmt.Sprint(r.Manifest()) != fmt.Sprint(m) {
				t.Fatalf("manifest %+v, want %+v", r.Manifest(), m)
			}
			if k := r.Keys(); !bytes.Equal(k.KEK, keys.KEK) || !bytes.Equal(k.SigningSeed, keys.SigningSeed) ||
				!bytes.Equal(k.CAKeyPEM, keys.CAKeyPEM) || !bytes.Equal(k.CAPEM, keys.CAPEM) {
				t.Fatal("keys differ")
			}
			if err := r.Finish(""); err == nil {
				t.Fatal("Finish twice")
			}
			// Finish reads (and checks) what the caller left of the snapshot.
			r2, err := Open(bytes.NewReader(data), tc.u)
			if err != nil {
				t.Fatal(err)
			}
			if err := r2.Finish(""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestWrongSecret(t *testing.T) {
	keys := testBundle(t)
	id, _ := newIdentity(t)
	_, otherID := newIdentity(t)
	byPass := makeBackup(t, Protection{Passphrase: []byte("right"), ScryptWorkFactor: testWorkFactor}, keys, []byte("snap"))
	byKey := makeBackup(t, Protection{Recipient: id.Recipient().String()}, keys, []byte("snap"))
	cases := []struct {
		name string
		data []byte
		u    Unlock
	}{
		{"wrong passphrase", byPass, Unlock{Passphrase: []byte("wrong")}},
		{"identity for a passphrase", byPass, Unlock{Identity: otherID}},
		{"wrong identity", byKey, Unlock{Identity: otherID}},
		{"passphrase for an identity", byKey, Unlock{Passphrase: []byte("right")}},
		{"garbage identity", byKey, Unlock{Identity: []byte("AGE-SECRET-KEY-1NOPE")}},
		{"nothing", byKey, Unlock{}},
		{"both", byKey, Unlock{Passphrase: []byte("x"), Identity: otherID}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(bytes.NewReader(tc.data), tc.u)
			if !errors.Is(err, ErrWrongSecret) {
				t.Fatalf("Open = %v, want ErrWrongSecret", err)
			}
			t.Log(err)
		})
	}
}

// payloadStart returns where age's payload (after the header's MAC line) begins.
func payloadStart(t testing.TB, data []byte) int {
	i := bytes.Index(data, []byte("\n--- "))
	if i < 0 {
		t.Fatal("no age header end")
	}
	return i + 1 + bytes.IndexByte(data[i+1:], '\n') + 1
}

func TestFlippedBit(t *testing.T) {
	keys := testBundle(t)
	data := makeBackup(t, Protection{Passphrase: []byte("pw"), ScryptWorkFactor: testWorkFactor}, keys, testSnapshot(t))
	start := payloadStart(t, data)
	positions := []int{0, 5, 25, 40, start - 10, start - 2, start, start + 15, start + 16, start + 100,
		start + 70<<10, len(data) / 2, len(data) - 100, len(data) - 17, len(data) - 1}
	for _, pos := range positions {
		for _, bit := range []byte{0x01, 0x80} {
			t.Run(fmt.Sprintf("byte %d bit %#x", pos, bit), func(t *testing.T) {
				bad := bytes.Clone(data)
				bad[pos] ^= bit
				_, _, err := readAll(bad, Unlock{Passphrase: []byte("pw")}, fingerprint(keys))
				switch {
				case err == nil:
					t.Fatal("a flipped bit was accepted")
				case pos >= start && !errors.Is(err, ErrCorrupt):
					t.Fatalf("flip in the payload: %v, want ErrCorrupt", err)
				case !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotBackup) && !errors.Is(err, ErrWrongSecret):
					t.Fatalf("flip in the header: %v", err)
				}
			})
		}
	}
}

func TestTruncated(t *testing.T) {
	keys := testBundle(t)
	data := makeBackup(t, Protection{Passphrase: []byte("pw"), ScryptWorkFactor: testWorkFactor}, keys, testSnapshot(t))
	start := payloadStart(t, data)
	for _, n := range []int{0, 1, 30, start - 5, start, start + 16, start + 1000, 64 << 10, len(data) / 2, len(data) - 64, len(data) - 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			_, _, err := readAll(data[:n], Unlock{Passphrase: []byte("pw")}, "")
			switch {
			case err == nil:
				t.Fatal("a truncated backup was accepted")
			case n >= start && !errors.Is(err, ErrCorrupt):
				t.Fatalf("truncated payload: %v, want ErrCorrupt", err)
			case !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotBackup):
				t.Fatalf("truncated header: %v", err)
			}
			t.Log(err)
		})
	}
}

func TestUntrustedKey(t *testing.T) {
	ours, theirs := testBundle(t), testBundle(t)
	data := makeBackup(t, Protection{Passphrase: []byte("pw"), ScryptWorkFactor: testWorkFactor}, theirs, []byte("snap"))
	_, _, err := readAll(data, Unlock{Passphrase: []byte("pw")}, fingerprint(ours))
	if !errors.Is(err, ErrUntrustedKey) {
		t.Fatalf("another cluster's backup: %v", err)
	}
	for _, s := range []string{fingerprint(ours), fingerprint(theirs), "not made by this cluster's key"} {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%q does not say %q", err, s)
		}
	}
	if _, _, err := readAll(data, Unlock{Passphrase: []byte("pw")}, ""); err != nil {
		t.Fatalf("no key expected: %v", err)
	}
}

// plaintextOf decrypts a passphrase backup.
func plaintextOf(t testing.TB, data []byte, pass string) []byte {
	t.Helper()
	id, err := age.NewScryptIdentity(pass)
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(bytes.NewReader(data), id)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// encryptWith encrypts plain under a passphrase, as a forger holding it would.
func encryptWith(t testing.TB, plain []byte, pass string) []byte {
	t.Helper()
	rcpt, err := age.NewScryptRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	rcpt.SetWorkFactor(10)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rcpt)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReencryptedChanges(t *testing.T) {
	keys := testBundle(t)
	plain := plaintextOf(t, makeBackup(t, Protection{Passphrase: []byte("pw"), ScryptWorkFactor: testWorkFactor}, keys, testSnapshot(t)), "pw")
	other := testBundle(t)
	cases := []struct {
		name string
		edit func([]byte) []byte
		want error
	}{
		{"nothing changed", func(b []byte) []byte { return b }, nil},
		{"extra bytes after", func(b []byte) []byte { return append(b, 0) }, ErrCorrupt},
		{"signature cut", func(b []byte) []byte { return b[:len(b)-1] }, ErrCorrupt},
		{"manifest changed", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"cluster_id":"c-0123"`), []byte(`"cluster_id":"c-9999"`), 1)
		}, ErrBadSignature},
		{"snapshot changed", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }, ErrBadSignature},
		{"signature changed", func(b []byte) []byte { b[len(b)-3] ^= 1; return b }, ErrBadSignature},
		{"keys swapped", func(b []byte) []byte {
			return bytes.Replace(b, []byte(fmt.Sprintf("%q", b64(keys.SigningSeed))), []byte(fmt.Sprintf("%q", b64(other.SigningSeed))), 1)
		}, ErrBadSignature},
		{"other magic", func(b []byte) []byte { return append([]byte("VALISE-BACKUP 2\n"), b[16:]...) }, ErrNotBackup},
		{"not a backup", func([]byte) []byte { return []byte("hello world, this is not a backup") }, ErrNotBackup},
		{"manifest too large", func(b []byte) []byte { b[16] = 0xff; return b }, ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := encryptWith(t, tc.edit(bytes.Clone(plain)), "pw")
			_, _, err := readAll(data, Unlock{Passphrase: []byte("pw")}, "")
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestNotBackup(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("x"), []byte("PK\x03\x04 a zip file, not a backup at all"), []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")} {
		if _, err := Open(bytes.NewReader(data), Unlock{Passphrase: []byte("pw")}); !errors.Is(err, ErrNotBackup) {
			t.Fatalf("Open(%q) = %v", data, err)
		}
	}
}

func TestWriteRefuses(t *testing.T) {
	keys := testBundle(t)
	id, _ := newIdentity(t)
	snap := writeSnap([]byte("x"))
	for _, p := range []Protection{{}, {Passphrase: []byte("a"), Recipient: id.Recipient().String()}, {Recipient: "age1nope"}} {
		if err := Write(io.Discard, p, testManifest(), keys, snap); !errors.Is(err, ErrBadProtection) {
			t.Fatalf("Write(%+v) = %v", p, err)
		}
	}
	if err := Write(io.Discard, Protection{Passphrase: []byte("a"), ScryptWorkFactor: testWorkFactor}, testManifest(), keyring.Bundle{}, snap); err == nil {
		t.Fatal("Write without a signing key")
	}
	boom := errors.New("boom")
	var buf bytes.Buffer
	err := Write(&buf, Protection{Passphrase: []byte("a"), ScryptWorkFactor: testWorkFactor}, testManifest(), keys, func(w io.Writer) error {
		w.Write(make([]byte, 100<<10))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v", err)
	}
	if _, _, err := readAll(buf.Bytes(), Unlock{Passphrase: []byte("a")}, ""); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a failed backup reads back: %v", err)
	}
}

// FuzzOpen: the plaintext decoder never panics, bounds what it allocates, and fails only
// with this package's errors.
func FuzzOpen(f *testing.F) {
	keys := testBundle(f)
	f.Add(plaintextOf(f, makeBackup(f, Protection{Passphrase: []byte("pw"), ScryptWorkFactor: testWorkFactor}, keys, []byte("a small snapshot")), "pw"))
	f.Add([]byte(magic + "\x00\x00\x00\x02{}"))
	f.Add([]byte(magic + "\x00\x00\x00\x0c{\"format\":1}\x00\x00\x00\x02{}\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decode(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrNotBackup) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode: %v", err)
			}
			return
		}
		if _, err := io.Copy(io.Discard, r.Snapshot()); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("snapshot: %v", err)
		}
		err = r.Finish("")
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("finish: %v", err)
		}
	})
}
