package account

import (
	"fmt"
	"strings"
)

// MaxEmailLen is the longest e-mail address accepted (RFC 5321's path limit less the brackets).
const MaxEmailLen = 254

// NormalizeEmail trims spaces around s, lower-cases it and checks it is a plain addr-spec:
// local@domain, ASCII only, the local part made of RFC 5322 atext and single inner dots (no
// quoting, no comments, no display name), the domain made of labels of letters, digits and
// inner hyphens (a single label such as "localhost" is allowed, for intranets). It returns an
// error wrapping ErrInvalidEmail otherwise. Addresses are compared after normalisation, so
// "Alice@Example.org" and "alice@example.org" are the same user.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > MaxEmailLen {
		return "", fmt.Errorf("%w: empty or longer than %d characters", ErrInvalidEmail, MaxEmailLen)
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", fmt.Errorf("%w: want exactly one @", ErrInvalidEmail)
	}
	if local == "" || len(local) > 64 || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "", fmt.Errorf("%w: bad local part", ErrInvalidEmail)
	}
	for i := 0; i < len(local); i++ {
		if !isAtext(local[i]) && local[i] != '.' {
			return "", fmt.Errorf("%w: character %q in local part", ErrInvalidEmail, local[i])
		}
	}
	if domain == "" || len(domain) > 253 {
		return "", fmt.Errorf("%w: bad domain", ErrInvalidEmail)
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%w: bad domain label %q", ErrInvalidEmail, label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("%w: character %q in domain", ErrInvalidEmail, c)
			}
		}
	}
	return s, nil
}

// isAtext reports whether c is an RFC 5322 atext character (lower-case letters only: the
// address is lower-cased first).
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}
