package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// TestOpenAPIDocument checks that the document is valid OpenAPI 3.1, describes every route
// the Handler serves with the right security, and the tus uploads.
func TestOpenAPIDocument(t *testing.T) {
	doc, err := libopenapi.NewDocument(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("document: %s (%s)", e.Message, e.Reason)
		}
	}
	var raw struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", raw.OpenAPI)
	}
	for _, rt := range Routes() {
		op, ok := raw.Paths[rt.Pattern][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s %s is not in the document", rt.Method, rt.Pattern)
			continue
		}
		var o struct {
			Security *[]any `json:"security"`
		}
		_ = json.Unmarshal(op, &o)
		if public := o.Security != nil && len(*o.Security) == 0; public != rt.Public {
			t.Errorf("%s %s: public %v in the document, %v served", rt.Method, rt.Pattern, public, rt.Public)
		}
	}
	for _, m := range []string{"post", "options"} {
		if _, ok := raw.Paths["/api/v1/uploads"][m]; !ok {
			t.Errorf("tus %s missing", m)
		}
	}
	for _, m := range []string{"head", "patch", "delete", "options"} {
		if _, ok := raw.Paths["/api/v1/uploads/{id}"][m]; !ok {
			t.Errorf("tus %s missing", m)
		}
	}
}
