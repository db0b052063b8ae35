// Package keyrate is a token bucket per key (a client address, an e-mail address typed), in
// memory on one node, with a bound on the keys it tracks: the sign-in limits of the web UI
// and the per-address limit of the public links use it. It keeps one node's work (Argon2
// slots, link lookups) from being spent on one source; what must hold across the cluster
// (lockouts) is recorded in the metadata by the domain, not here.
//
// It imports golang.org/x/time/rate besides the standard library.
package keyrate

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a token bucket per key: PerMinute sustained, Burst at once, for at most MaxKeys
// keys. Safe for concurrent use.
type Limiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int

	mu      sync.Mutex // guards buckets
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a Limiter allowing perMinute attempts per key sustained and burst at once,
// tracking at most maxKeys keys. perMinute must be positive, burst and maxKeys at least 1.
func New(perMinute float64, burst, maxKeys int) *Limiter {
	return &Limiter{
		limit:   rate.Limit(perMinute / 60),
		burst:   burst,
		maxKeys: max(maxKeys, 1),
		buckets: make(map[string]*bucket),
	}
}

// Allow takes one token from key's bucket at now and reports whether there was one. A new key
// past MaxKeys first makes room: the buckets idle long enough to be full again are forgotten,
// and if that is not enough, every bucket idle for longer than the mean.
func (l *Limiter) Allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.maxKeys {
			l.evict(now)
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// Len returns how many keys the Limiter tracks.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// evict forgets the buckets idle long enough to be full again, and if none is, every bucket
// idle for longer than the mean. Called with mu held.
func (l *Limiter) evict(now time.Time) {
	refill := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
	var total time.Duration
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= refill {
			delete(l.buckets, k)
			continue
		}
		total += now.Sub(b.seen)
	}
	if len(l.buckets) < l.maxKeys {
		return
	}
	mean := total / time.Duration(len(l.buckets))
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= mean {
			delete(l.buckets, k)
		}
	}
}
