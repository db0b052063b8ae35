package userid_test

import (
	"encoding/json"
	"testing"

	"valise/userid"
)

// TestIDEncodesAsString checks that typing user IDs changed no stored or wire format: a
// record with an ID field encodes and decodes exactly as with a plain string (issue 17 item
// 5).
func TestIDEncodesAsString(t *testing.T) {
	const id = "0193a0c4-1f2e-7abc-8def-0123456789ab"
	typed, err := json.Marshal(struct {
		ID userid.ID `json:"id"`
	}{id})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(struct {
		ID string `json:"id"`
	}{id})
	if string(typed) != string(plain) {
		t.Fatalf("typed ID encodes as %s, a string as %s", typed, plain)
	}
	var back struct {
		ID userid.ID `json:"id"`
	}
	if err := json.Unmarshal(plain, &back); err != nil || back.ID != id || back.ID.String() != id {
		t.Fatalf("decode %s = %q, %v; want %q", plain, back.ID, err, id)
	}
}
