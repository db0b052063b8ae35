package transfer

import "testing"

// BenchmarkOpenLink measures a recipient opening a link on a one-node cluster: a
// linearizable read, three local reads and one tracking commit.
func BenchmarkOpenLink(b *testing.B) {
	e := newEnv(b)
	f := e.upload("u1", "a.bin", randomData(300, 1), VerdictClean)
	tok := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{}).Invitations[0].Token
	for b.Loop() {
		if _, err := e.svc.OpenLink(e.ctx, tok, "", "192.0.2.1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateSend measures a send of one file to three recipients: Argon2-free (no
// password), one commit with the file, send, index and three link records.
func BenchmarkCreateSend(b *testing.B) {
	e := newEnv(b)
	f := e.upload("u1", "a.bin", randomData(300, 1), VerdictClean)
	req := SendRequest{To: []string{"a@example.org", "b@example.org", "c@example.org"}, FileIDs: []FileID{f.ID}}
	for b.Loop() {
		if _, err := e.svc.CreateSend(e.ctx, "u1", req); err != nil {
			b.Fatal(err)
		}
	}
}
