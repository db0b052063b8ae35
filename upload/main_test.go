package upload

import (
	"os"
	"testing"

	"valise/scan/scantest"
)

// clamd is the package's one clamd, started by the first test that scans (issue 16 item 1).
var clamd = scantest.NewShared(4)

func TestMain(m *testing.M) {
	code := m.Run()
	clamd.Close()
	os.Exit(code)
}
