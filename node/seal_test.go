package node

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"valise/keyring"
	"valise/notify"
	"valise/raftfsm"
	"valise/raftfsm/rafttest"
)

// rawContains reports whether any value stored under prefix in the metadata, as Badger holds
// it, contains secret.
func rawContains(t *testing.T, store *raftfsm.Store, prefix, secret string) bool {
	t.Helper()
	found := false
	err := store.Scan([]byte(prefix), func(it raftfsm.Item) error {
		if bytes.Contains(it.Value, []byte(secret)) {
			found = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestSecretsSealedInMetadata guards issue 16 item 9: smtp.password and the mails carrying
// link tokens (outbox and queue) were stored in clear in the replicated metadata, where a
// stolen disk, snapshot or backup shows them. They are sealed with the cluster key, as the
// HTTPS keys are; the node still reads them back for use, and `settings get` shows only
// that the password is set.
func TestSecretsSealedInMetadata(t *testing.T) {
	c := rafttest.NewCluster(t, 1)
	store := c.Store(c.Leader(t))
	keys, err := keyring.Create(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	n := &instance{store: store, keys: keys, logger: rafttest.TestLogger(t, slog.LevelWarn)}
	n.serving.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), rafttest.WaitTimeout)
	defer cancel()

	t.Run("smtp.password", func(t *testing.T) {
		const password = "Tr0ub4dor&3-relay-password"
		b, err := settingBatch(keys, "test", time.Now(), "smtp.password", password)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Propose(ctx, b); err != nil {
			t.Fatal(err)
		}
		if rawContains(t, store, settingsPrefix, password) {
			t.Fatal("the metadata holds smtp.password in clear")
		}
		if got := n.setting("smtp.password"); got != password {
			t.Fatalf("the node reads smtp.password as %q", got)
		}
		shown, err := (&adminService{n: n}).Setting(ctx, "smtp.password")
		if err != nil {
			t.Fatal(err)
		}
		if shown.Value != "(set)" || !shown.Set {
			t.Fatalf("settings get smtp.password shows %+v, want (set)", shown)
		}
	})

	for _, tc := range []struct {
		name  string
		relay *notify.Relay
	}{
		{"outbox", nil},
		{"queue", &notify.Relay{Host: "127.0.0.1", Port: 1}}, // never started: the mail waits
	} {
		t.Run("mail in the "+tc.name, func(t *testing.T) {
			cfg := notify.DefaultConfig()
			cfg.From, cfg.Relay = "valise@example.org", tc.relay
			s, err := notify.New(cfg, sealedStore{store: store, keys: keys}, n.logger)
			if err != nil {
				t.Fatal(err)
			}
			const token = "LinkToken-q9XbV2rT7"
			m, err := s.Enqueue(ctx, notify.Message{
				Kind: "send", Lang: "en", To: []string{"bob@example.org"}, FromName: "Alice",
				Subject: "Contract", Text: "https://files.example.org/l/" + token, HTML: `<a href="https://files.example.org/l/` + token + `">open</a>`,
			}, "test")
			if err != nil {
				t.Fatal(err)
			}
			if rawContains(t, store, "notify/", token) || rawContains(t, store, "notify/", "bob@example.org") {
				t.Fatal("the metadata holds the mail, link token and recipient in clear")
			}
			var text string
			if tc.relay == nil {
				out, err := s.Outbox(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range out {
					if o.ID == m.ID {
						text = o.Text
					}
				}
			} else {
				q, err := s.Queue(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range q {
					if r.Message.ID == m.ID {
						text = r.Message.Text
					}
				}
			}
			if !strings.HasSuffix(text, token) {
				t.Fatalf("the mail reads back with text %q, want the link", text)
			}
		})
	}
}
