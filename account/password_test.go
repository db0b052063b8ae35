package account

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHashFormat(t *testing.T) {
	h := newHasher(DefaultConfig().Password, nil)
	ctx := ctxT(t)
	phc, err := h.hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry the OWASP parameters", phc)
	}
	p, err := ParsePHC(phc)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Salt) != 16 || len(p.Key) != 32 || p.String() != phc {
		t.Errorf("parsed %+v; re-encodes as %q", p, p.String())
	}
	for _, tc := range []struct {
		name, password string
		want           bool
	}{
		{"right", "correct horse battery staple", true},
		{"wrong", "correct horse battery stapler", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.verify(ctx, tc.password, phc)
			if err != nil || ok != tc.want {
				t.Fatalf("verify = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
	other, _ := h.hash(ctx, "correct horse battery staple")
	if other == phc {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestParsePHCRejects(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	good := "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key
	if _, err := ParsePHC(good); err != nil {
		t.Fatalf("good hash: %v", err)
	}
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"bcrypt", "$2y$10$abcdefghijklmnopqrstuu5M4w3Oa7KZ1Q9M3r8k1e3xQm5lJ0nW"},
		{"old version", strings.Replace(good, "v=19", "v=16", 1)},
		{"params reordered", strings.Replace(good, "m=19456,t=2,p=1", "t=2,m=19456,p=1", 1)},
		{"missing p", strings.Replace(good, ",p=1", "", 1)},
		{"leading zero", strings.Replace(good, "t=2", "t=02", 1)},
		{"signed", strings.Replace(good, "t=2", "t=+2", 1)},
		{"huge memory", strings.Replace(good, "m=19456", "m=4294967295", 1)},
		{"memory overflow", strings.Replace(good, "m=19456", "m=99999999999", 1)},
		{"zero time", strings.Replace(good, "t=2", "t=0", 1)},
		{"many lanes", strings.Replace(good, "p=1", "p=255", 1)},
		{"memory below 8p", strings.Replace(good, "m=19456,t=2,p=1", "m=8,t=2,p=2", 1)},
		{"padded salt", strings.Replace(good, salt, salt+"==", 1)},
		{"short salt", strings.Replace(good, salt, "c2FsdA", 1)},
		{"short key", strings.Replace(good, key, "a2V5", 1)},
		{"bad base64", strings.Replace(good, key, "!!!!"+key[4:], 1)},
		{"extra field", good + "$x"},
		{"no leading $", good[1:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParsePHC(tc.in); !errors.Is(err, ErrBadPHC) {
				t.Fatalf("ParsePHC(%q): %v, want ErrBadPHC", tc.in, err)
			}
		})
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$$")
	f.Add("$$$$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePHC(s)
		if err != nil {
			return
		}
		if p.String() != s {
			t.Fatalf("accepted a non-canonical hash: %q re-encodes as %q", s, p.String())
		}
		if p.MemoryKiB > maxPHCMemory || p.Iterations > maxPHCTime || p.Parallelism > maxPHCThreads {
			t.Fatalf("accepted parameters out of bounds: %+v", p)
		}
	})
}

// TestHashCap checks the semaphore: with every slot taken, a hash waits, and gives up with
// its context instead of allocating Argon2's memory (docs/dependencies.md, trap 10).
func TestHashCap(t *testing.T) {
	cfg := DefaultConfig().Password
	cfg.MaxConcurrent = 2
	h := newHasher(cfg, nil)
	for range cfg.MaxConcurrent {
		h.sem <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.hash(ctx, "a password long enough"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hash with every slot taken: %v, want DeadlineExceeded", err)
	}
	<-h.sem
	if _, err := h.hash(context.Background(), "a password long enough"); err != nil {
		t.Fatalf("hash with a slot free: %v", err)
	}
	if len(h.sem) != cfg.MaxConcurrent-1 {
		t.Fatalf("slot not given back: %d taken", len(h.sem))
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"default", func(*Config) {}, true},
		{"no hash slots", func(c *Config) { c.Password.MaxConcurrent = 0 }, false},
		{"memory too big", func(c *Config) { c.Password.MemoryKiB = maxPHCMemory + 1 }, false},
		{"zero iterations", func(c *Config) { c.Password.Iterations = 0 }, false},
		{"min length 4", func(c *Config) { c.Password.MinLength = 4 }, false},
		{"threshold 0", func(c *Config) { c.Lockout.Threshold = 0 }, false},
		{"max below base", func(c *Config) { c.Lockout.Max = time.Second }, false},
		{"touch beyond idle", func(c *Config) { c.Session.TouchEvery = time.Hour }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.change(&cfg)
			if err := cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// BenchmarkHashPassword measures one Argon2id hash at the default cost (19 MiB, t=2, p=1):
// what each login and password change costs the node.
func BenchmarkHashPassword(b *testing.B) {
	h := newHasher(DefaultConfig().Password, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPasswordHasher hashes a link password through the exported hasher in the Service's PHC
// form and verifies it; a malformed hash is an error, never a match; and it shares the
// Service's semaphore, so a cancelled caller never waits for a slot logins hold.
func TestPasswordHasher(t *testing.T) {
	e := newEnv(t)
	h := e.svc.PasswordHasher()
	ctx := ctxT(t)
	hash, err := h.HashPassword(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=256,t=1,p=1$") {
		t.Fatalf("hash %q is not the service's PHC form", hash)
	}
	for _, tc := range []struct {
		name, password, hash string
		want                 bool
		wantErr              error
	}{
		{"right", "correct horse battery", hash, true, nil},
		{"wrong", "correct horse", hash, false, nil},
		{"empty hash", "correct horse battery", "", false, nil},
		{"malformed", "correct horse battery", "$argon2i$x", false, ErrBadPHC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.VerifyPassword(ctx, tc.password, tc.hash)
			if ok != tc.want || !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("verify = %v, %v; want %v, %v", ok, err, tc.want, tc.wantErr)
			}
		})
	}
	t.Run("shares the service's slots", func(t *testing.T) {
		sem := e.svc.hasher.sem
		for range cap(sem) {
			sem <- struct{}{}
		}
		defer func() {
			for range cap(sem) {
				<-sem
			}
		}()
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := h.HashPassword(cctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("hash with every login slot taken: %v, want DeadlineExceeded", err)
		}
		if _, err := h.VerifyPassword(cctx, "x", hash); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("verify with every login slot taken: %v, want DeadlineExceeded", err)
		}
	})
}
