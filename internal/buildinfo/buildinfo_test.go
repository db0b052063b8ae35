package buildinfo

import "testing"

func TestVersion(t *testing.T) {
	if v := Version(); v == "" {
		t.Error("empty version")
	}
}
