package web

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket: PerMinute sustained, Burst at once.
type Rate struct {
	// PerMinute is the sustained rate of attempts.
	PerMinute float64 `toml:"per_minute"`
	// Burst is how many attempts may come at once.
	Burst int `toml:"burst"`
}

func (r Rate) valid() bool { return r.PerMinute > 0 && r.Burst >= 1 }

// maxLimiterKeys bounds the keys a limiter tracks; idle ones are forgotten first.
const maxLimiterKeys = 100000

// limiter is a token bucket per key (a client address, an e-mail address typed), in memory on
// this node: the lockout in account is what holds across the cluster; this only keeps one
// node's Argon2 slots from being spent on one source.
type limiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex // guards buckets
	buckets map[string]*limitBucket
}

type limitBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(r Rate) *limiter {
	return &limiter{limit: rate.Limit(r.PerMinute / 60), burst: r.Burst, buckets: make(map[string]*limitBucket)}
}

// allow takes one token from key's bucket at now; false when it is empty.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimiterKeys {
			l.evict(now)
		}
		b = &limitBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// evict forgets the buckets idle long enough to be full again, and if none is, every bucket
// idle for longer than the mean. Called with mu held.
func (l *limiter) evict(now time.Time) {
	refill := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
	var total time.Duration
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= refill {
			delete(l.buckets, k)
			continue
		}
		total += now.Sub(b.seen)
	}
	if len(l.buckets) < maxLimiterKeys {
		return
	}
	mean := total / time.Duration(len(l.buckets))
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= mean {
			delete(l.buckets, k)
		}
	}
}

// accountKey maps the e-mail address typed to its bucket, whether a user has it or not.
func accountKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
