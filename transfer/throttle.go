package transfer

import (
	"sync"
	"time"

	"valise/userid"

	"golang.org/x/time/rate"
)

// maxThrottledUsers bounds the owners userLimiter tracks; the idle ones are forgotten first.
const maxThrottledUsers = 100000

// userLimiter is a token bucket per owner, in memory on this node: n actions per window,
// all of them at once at most.
type userLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex // guards buckets
	buckets map[userid.ID]*rate.Limiter
}

func newUserLimiter(n int, window time.Duration, now func() time.Time) *userLimiter {
	return &userLimiter{
		limit:   rate.Limit(float64(n) / window.Seconds()),
		burst:   n,
		now:     now,
		buckets: make(map[userid.ID]*rate.Limiter),
	}
}

// reservation is a token taken from an owner's bucket; cancel gives it back.
type reservation struct {
	r   *rate.Reservation
	now func() time.Time
}

func (r reservation) cancel() { r.r.CancelAt(r.now()) }

// reserve takes a token from owner's bucket now; false when it is empty.
func (l *userLimiter) reserve(owner userid.ID) (reservation, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[owner]
	if b == nil {
		if len(l.buckets) >= maxThrottledUsers {
			for k, v := range l.buckets {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.buckets, k) // full again: forgetting it changes nothing
				}
			}
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[owner] = b
	}
	r := b.ReserveN(now, 1)
	if !r.OK() || r.DelayFrom(now) > 0 {
		r.CancelAt(now)
		return reservation{}, false
	}
	return reservation{r: r, now: l.now}, true
}
