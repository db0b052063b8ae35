package node

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"valise/adminapi"
)

// checkWebBranding fetches the login page and its brand stylesheet: the product name from
// branding.name, and branding.color and branding.color_dark applied without a restart (the
// handler rebuilt by applySettings).
func checkWebBranding(t *testing.T, c *adminapi.Client, dataDir, httpsAddr, name string) {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(dataDir, "keys", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(path string) string {
		resp, err := hc.Get("https://" + httpsAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return string(b)
	}
	brandCSS := func() string {
		m := regexp.MustCompile(`href="(/static/brand\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(get("/login"))
		if m == nil {
			t.Fatal("the login page links no brand.css")
		}
		return get(m[1])
	}
	page := get("/login")
	for _, want := range []string{`<html lang="fr"`, name, `name="csrf"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the login page lacks %q:\n%s", want, page)
		}
	}
	if css := brandCSS(); strings.Contains(css, "--brand:") {
		t.Fatalf("brand.css sets a colour with no branding.color:\n%s", css)
	}
	ctx := t.Context()
	for _, kv := range [][2]string{{"branding.color", "#123456"}, {"branding.color_dark", "#abcdef"}} {
		if _, err := c.SetSetting(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	css := brandCSS()
	for _, want := range []string{"--brand: #123456", "--brand: #abcdef"} {
		if !strings.Contains(css, want) {
			t.Fatalf("brand.css after the settings changed lacks %q:\n%s", want, css)
		}
	}
	if _, err := c.SetSetting(ctx, "branding.color", "red"); err == nil {
		t.Fatal("branding.color accepted red")
	}
}
