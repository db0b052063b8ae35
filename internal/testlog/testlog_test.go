package testlog_test

import (
	"log/slog"
	"sync"
	"testing"

	"valise/internal/testlog"
)

// TestLateRecordDropped checks that a record logged after the test ended, by a goroutine that
// outlived it, is dropped instead of failing the run.
func TestLateRecordDropped(t *testing.T) {
	var logger *slog.Logger
	t.Run("sub", func(t *testing.T) {
		logger = testlog.New(t, slog.LevelInfo)
		logger.Info("during the test")
	})
	var wg sync.WaitGroup
	wg.Go(func() { logger.Info("after the test") })
	wg.Wait()
}
