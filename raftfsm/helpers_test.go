package raftfsm

import (
	"log/slog"
	"testing"
	"time"

	"valise/internal/testlog"
)

// testLogger routes logs at Warn and above to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return testlog.New(t, slog.LevelWarn)
}

// testTime is the fixed audit time of test batches: Apply never reads the clock.
var testTime = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func putBatch(key, val string, conds ...Cond) Batch {
	return Batch{
		Conds: conds,
		Ops:   []Op{{Kind: OpPut, Key: []byte(key), Value: []byte(val)}},
		Audit: Audit{Time: testTime, Actor: "test", Action: "test.put", Target: key, Details: []byte(val)},
	}
}

func delBatch(key string, conds ...Cond) Batch {
	return Batch{
		Conds: conds,
		Ops:   []Op{{Kind: OpDelete, Key: []byte(key)}},
		Audit: Audit{Time: testTime, Actor: "test", Action: "test.delete", Target: key},
	}
}
