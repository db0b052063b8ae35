package account

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"

	"valise/raftfsm"
	"valise/userid"
)

// ImportLine is one data line of a users' CSV import, as ParseImport read it.
type ImportLine struct {
	Line     int // 1-based line number in the file, the header being line 1
	Email    string
	Name     string
	Role     Role
	Language Language
	Quota    int64 // QuotaDefault when the column is absent or empty
	// Err says why the line cannot be imported (a *UserError or a plain sentence); the
	// fields above may then be partly empty.
	Err error
}

// importColumns are the columns an import's header may name.
var importColumns = map[string]bool{"email": true, "name": true, "role": true, "lang": true, "quota_bytes": true, "quota": true}

// ParseImport reads a users' CSV import: a header line naming the columns among "email"
// (required), "name", "role", "lang", "quota_bytes" and "quota" (with K, M, G, T suffixes),
// in any order, separated by "," or ";" (the header's first separator decides), UTF-8 with
// an optional BOM. Blank lines are skipped. A line that does not validate, or repeats an
// e-mail address of an earlier line, comes back with Err set; the error is for the header
// only (nothing can be read without it).
func ParseImport(data string) ([]ImportLine, error) {
	data = strings.TrimPrefix(data, "\uFEFF")
	header, _, _ := strings.Cut(data, "\n")
	comma := ','
	if i := strings.IndexAny(header, ",;"); i >= 0 && header[i] == ';' {
		comma = ';'
	}
	r := csv.NewReader(strings.NewReader(data))
	r.Comma, r.FieldsPerRecord, r.TrimLeadingSpace, r.ReuseRecord = comma, -1, true, false
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: CSV header: %v", ErrInvalidInput, err)
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(h))
		if !importColumns[h] {
			return nil, fmt.Errorf("%w: CSV header: unknown column %q (want email, name, role, lang, quota_bytes or quota)", ErrInvalidInput, h)
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("%w: CSV header: column %q twice", ErrInvalidInput, h)
		}
		col[h] = i
	}
	if _, ok := col["email"]; !ok {
		return nil, fmt.Errorf("%w: CSV header: no email column", ErrInvalidInput)
	}
	_, hasQuota := col["quota"]
	_, hasQuotaBytes := col["quota_bytes"]
	if hasQuota && hasQuotaBytes {
		return nil, fmt.Errorf("%w: CSV header: give quota or quota_bytes, not both", ErrInvalidInput)
	}
	var out []ImportLine
	seen := map[string]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			out = append(out, ImportLine{Line: perr.StartLine, Quota: QuotaDefault, Err: fmt.Errorf("%w: CSV: %v", ErrInvalidInput, perr.Err)})
			continue
		}
		if err != nil {
			return out, fmt.Errorf("read CSV: %w", err)
		}
		line, _ := r.FieldPos(0)
		l := parseImportRecord(line, rec, col)
		if l.Err == nil {
			if first, dup := seen[l.Email]; dup {
				l.Err = fmt.Errorf("%w: %s is already on line %d", ErrInvalidInput, l.Email, first)
			} else {
				seen[l.Email] = line
			}
		}
		out = append(out, l)
	}
}

// parseImportRecord validates one CSV record.
func parseImportRecord(line int, rec []string, col map[string]int) ImportLine {
	field := func(name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	l := ImportLine{Line: line, Email: field("email"), Role: RoleUser, Language: LangFR, Quota: QuotaDefault}
	email, err := NormalizeEmail(l.Email)
	if err != nil {
		l.Err = err
		return l
	}
	l.Email = email
	if l.Name, err = checkName(field("name")); err != nil {
		l.Err = err
		return l
	}
	if r := field("role"); r != "" {
		if l.Role, err = ParseRole(r); err != nil {
			l.Err = err
			return l
		}
	}
	if l.Language, err = ParseLanguage(field("lang")); err != nil {
		l.Err = err
		return l
	}
	if q := field("quota"); q != "" {
		l.Quota, l.Err = ParseQuota(q)
	} else if q := field("quota_bytes"); q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil || n < QuotaDefault {
			l.Err = fmt.Errorf("%w: quota_bytes %q (want a whole number of bytes, 0 for none)", ErrInvalidInput, q)
		}
		l.Quota = n
	}
	return l
}

// ParseQuota parses a quota as an operator writes it: "default" (or "") for QuotaDefault,
// "none" or "0" for no quota, else a whole number of bytes with an optional binary suffix K,
// M, G or T ("10G" is 10 GiB), optionally followed by "B" or "iB".
func ParseQuota(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	switch t {
	case "", "DEFAULT":
		return QuotaDefault, nil
	case "NONE":
		return 0, nil
	}
	if u, ok := strings.CutSuffix(t, "IB"); ok {
		t = u
	} else {
		t = strings.TrimSuffix(t, "B")
	}
	shift := 0
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGT", t[n-1]); i >= 0 {
			shift, t = 10*(i+1), t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || t[0] == '+' || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%w: quota %q (want bytes with K, M, G or T, \"none\" or \"default\")", ErrInvalidInput, s)
	}
	return n << shift, nil
}

// MaxImportBatch is how many users AddBatch commits at most in one batch: each takes two
// Ops and two Conds, within raftfsm's MaxOps and MaxConds.
const MaxImportBatch = raftfsm.MaxOps / 2

// Generated passwords of imports are hashed with a low Argon2id cost: they carry 130 bits
// of entropy, which no stretching makes harder to guess, and must be changed at the first
// login (hashed then at the configured cost). verify pads the check of such a hash with a
// full-cost one, so a login does not tell them apart by timing.
var generatedCost = PHC{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

// AddBatch creates users (at most MaxImportBatch) with generated passwords, all or none, in
// one batch journalled as one "user.import" entry. Each must be valid (the caller checked
// them with ParseImport); an e-mail address taken meanwhile fails the whole batch with
// ErrEmailTaken. It returns the users with their passwords, in order.
func (s *Service) AddBatch(ctx context.Context, lines []ImportLine) ([]User, []string, error) {
	if len(lines) == 0 || len(lines) > MaxImportBatch {
		return nil, nil, fmt.Errorf("add %d users: %w: want 1 to %d", len(lines), ErrInvalidInput, MaxImportBatch)
	}
	var (
		b         raftfsm.Batch
		users     = make([]User, 0, len(lines))
		passwords = make([]string, 0, len(lines))
		emails    = make([]string, 0, len(lines))
	)
	now := s.now()
	for _, l := range lines {
		if l.Err != nil {
			return nil, nil, fmt.Errorf("add user %s: %w", l.Email, l.Err)
		}
		password := GeneratePassword()
		hash, err := hashCheap(password)
		if err != nil {
			return nil, nil, err
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, nil, fmt.Errorf("add user %s: new ID: %w", l.Email, err)
		}
		rec := userRecord{User: User{
			ID: userid.ID(id.String()), Email: l.Email, Name: l.Name, Language: l.Language, Role: l.Role,
			MustChangePassword: true, Created: now,
		}, PasswordHash: hash}
		if l.Quota != QuotaDefault {
			q := l.Quota
			rec.Quota = &q
		}
		val, err := json.Marshal(rec)
		if err != nil {
			return nil, nil, fmt.Errorf("add user %s: %w", l.Email, err)
		}
		b.Conds = append(b.Conds,
			raftfsm.Cond{Kind: raftfsm.CondAbsent, Key: emailKey(l.Email)},
			raftfsm.Cond{Kind: raftfsm.CondAbsent, Key: userKey(rec.ID)})
		b.Ops = append(b.Ops,
			raftfsm.Op{Kind: raftfsm.OpPut, Key: userKey(rec.ID), Value: val},
			raftfsm.Op{Kind: raftfsm.OpPut, Key: emailKey(l.Email), Value: []byte(rec.ID)})
		users, passwords, emails = append(users, rec.User), append(passwords, password), append(emails, l.Email)
	}
	b.Audit = s.audit(ctx, "user.import", "", map[string]any{"created": len(users), "emails": emails})
	if _, err := s.store.Propose(ctx, b); err != nil {
		if errors.Is(err, raftfsm.ErrConflict) {
			return nil, nil, userErr(fmt.Errorf("add %d users: %w", len(lines), ErrEmailTaken))
		}
		return nil, nil, fmt.Errorf("add %d users: %w", len(lines), err)
	}
	s.logger.Info("users imported", "count", len(users))
	return users, passwords, nil
}

// hashCheap hashes a generated password at generatedCost, without taking a hashing slot
// (it costs a fraction of a millisecond).
func hashCheap(password string) (string, error) {
	p := generatedCost
	p.Salt, p.Key = make([]byte, saltLen), nil
	if _, err := rand.Read(p.Salt); err != nil {
		return "", fmt.Errorf("hash password: salt: %w", err)
	}
	p.Key = argon2.IDKey([]byte(password), p.Salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
	return p.String(), nil
}

// cheaper reports whether p costs less than the configured hash: verify pads it.
func (h *hasher) cheaper(p PHC) bool {
	return p.MemoryKiB < h.cfg.MemoryKiB || p.Iterations < h.cfg.Iterations
}
