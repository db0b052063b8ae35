package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"valise/keyring"
)

// caCmds are the script commands of the cluster CA journeys (testdata/script/ca.txtar).
func caCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"oldca":    cmdOldCA,
		"servedby": cmdServedBy,
		"capem":    cmdCAPEM,
	}
}

// oldca DATA: gives the stopped node of DATA a CA without name constraints, as clusters made
// before issue 16 have, and prints its "ca-fingerprint: ...".
func cmdOldCA(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: oldca DATA")
	}
	tmp := filepath.Join(ts.MkAbs("oldca-keys"), keyring.DirName)
	k, err := keyring.Create(tmp)
	ts.Check(err)
	keys := filepath.Join(ts.MkAbs(args[0]), keyring.DirName)
	for name, mode := range map[string]os.FileMode{"ca.key": 0o600, "ca.pem": 0o644} {
		b, err := os.ReadFile(filepath.Join(tmp, name))
		ts.Check(err)
		ts.Check(os.WriteFile(filepath.Join(keys, name), b, mode))
	}
	fmt.Fprintf(ts.Stdout(), "ca-fingerprint: %s\n", k.Fingerprint())
}

var fingerprintLine = regexp.MustCompile(`(?m)^ca-fingerprint: (\S+)$`)

// servedby NAME FILE: the certificate the node at $HTTPS serves for NAME (SNI, or an IP
// address) is issued by the CA of $CAFILE whose fingerprint FILE gives in its
// "ca-fingerprint: ..." line (the output of init, oldca or ca renew).
func cmdServedBy(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: servedby NAME FILE")
	}
	m := fingerprintLine.FindStringSubmatch(ts.ReadFile(args[1]))
	if m == nil {
		ts.Fatalf("%s holds no ca-fingerprint line", args[1])
	}
	bundle, err := os.ReadFile(ts.Getenv("CAFILE"))
	ts.Check(err)
	pool := x509.NewCertPool()
	found := false
	for rest := bundle; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		sum := sha256.Sum256(b.Bytes)
		if "SHA256:"+base64.RawStdEncoding.EncodeToString(sum[:]) == m[1] {
			c, err := x509.ParseCertificate(b.Bytes)
			ts.Check(err)
			pool.AddCert(c)
			found = true
		}
	}
	if !found {
		ts.Fatalf("no CA with fingerprint %s in %s", m[1], ts.Getenv("CAFILE"))
	}
	name := args[0]
	cfg := &tls.Config{InsecureSkipVerify: true} // verified below, against the one CA
	if net.ParseIP(name) == nil {
		cfg.ServerName = name
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ts.Getenv("HTTPS"), cfg)
	ts.Check(err)
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	switch {
	case neg && err == nil:
		ts.Fatalf("the certificate served for %s is issued by %s", name, m[1])
	case !neg && err != nil:
		ts.Fatalf("the certificate served for %s is not issued by %s: %v", name, m[1], err)
	}
}

// capem N: GET /ca.pem from $HTTPS serves N certificates, the same as $CAFILE holds.
func cmdCAPEM(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: capem N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	file, err := os.ReadFile(ts.Getenv("CAFILE"))
	ts.Check(err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(file) // read now: ca renew changes it (httpsClient keeps a pool)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 2 * time.Minute}).Get("https://" + ts.Getenv("HTTPS") + "/ca.pem")
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	if got := strings.Count(string(body), "BEGIN CERTIFICATE"); got != want {
		ts.Fatalf("/ca.pem serves %d certificates, want %d", got, want)
	}
	if string(file) != string(body) {
		ts.Fatalf("/ca.pem serves other certificates than %s", ts.Getenv("CAFILE"))
	}
}
