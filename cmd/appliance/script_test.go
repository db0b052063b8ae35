package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"valise/internal/poll"
)

// binDir holds the appliance binary built once by TestMain.
var binDir string

// TestMain builds the real appliance binary once; the scripts run it as a separate process,
// so kill -9 and restarts are real.
func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "appliance-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "appliance"), ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build appliance:", err)
		return 1
	}
	binDir = dir
	return m.Run()
}

// TestScripts runs the end-to-end journeys under testdata/script against the real binary.
func TestScripts(t *testing.T) {
	p := scriptParams()
	p.Dir = "testdata/script"
	testscript.Run(t, p)
}

// scriptParams are the scripts' environment and custom commands.
func scriptParams() testscript.Params {
	return testscript.Params{
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+env.Getenv("PATH"))
			// Unix socket paths are limited to ~107 bytes and the work directory is long:
			// each script gets a short socket directory.
			sock, err := os.MkdirTemp("", "vs")
			if err != nil {
				return err
			}
			env.Defer(func() { os.RemoveAll(sock) })
			env.Setenv("SOCK", filepath.Join(sock, "admin.sock"))
			e2eSetup(env)
			return webSetup(env)
		},
		Cmds: func() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
			cmds := map[string]func(ts *testscript.TestScript, neg bool, args []string){
				"waitready": cmdWaitReady,
				"waitfile":  cmdWaitFile,
				"jsoneq":    cmdJSONEq,
				"jsonlen":   cmdJSONLen,
				"checkpw":   cmdCheckPassword,
				"loopback":  cmdLoopback,
			}
			for k, v := range e2eCmds() {
				cmds[k] = v
			}
			for k, v := range webCmds() {
				cmds[k] = v
			}
			for k, v := range caCmds() {
				cmds[k] = v
			}
			for k, v := range healCmds() {
				cmds[k] = v
			}
			for k, v := range restoreCmds() {
				cmds[k] = v
			}
			for k, v := range backupCmds() { // backup_test.go
				cmds[k] = v
			}
			return cmds
		}(),
		Deadline: time.Now().Add(10 * time.Minute),
	}
}

// scriptDeadline bounds every polling command.
const scriptDeadline = 60 * time.Second

// waitready DATA: waits until the node of DATA answers status with a Raft leader, then until
// its /readyz answers 200 over HTTPS, trusting only the cluster CA. It sets $HTTPS to the
// node's HTTPS address and $CAFILE to the cluster CA's file.
func cmdWaitReady(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitready DATA")
	}
	data := ts.MkAbs(args[0])
	cf := clientFlags{data: data}
	c, err := cf.client()
	ts.Check(err)
	defer c.Close()
	var httpsAddr string
	err = poll.Within(scriptDeadline, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if st.Raft.State != "Leader" && st.Raft.State != "Follower" {
			return fmt.Errorf("raft state %s", st.Raft.State)
		}
		httpsAddr = st.Node.Addresses.HTTPS
		return nil
	})
	if err != nil {
		ts.Fatalf("node of %s not up: %v", data, err)
	}
	ts.Setenv("HTTPS", httpsAddr)
	ts.Setenv("CAFILE", filepath.Join(data, "keys", "ca.pem"))
	caPEM, err := os.ReadFile(filepath.Join(data, "keys", "ca.pem"))
	ts.Check(err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		ts.Fatalf("no certificate in ca.pem")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	url := "https://" + httpsAddr + "/readyz"
	err = poll.Within(scriptDeadline, func() error {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	})
	if err != nil {
		ts.Fatalf("not ready: %v", err)
	}
	ts.Logf("ready: %s answers 200", url)
}

// waitfile GLOB: waits until GLOB (relative to $WORK) matches a file.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfile GLOB")
	}
	pattern := ts.MkAbs(args[0])
	err := poll.Within(scriptDeadline, func() error {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return err
		}
		if len(m) == 0 {
			return fmt.Errorf("nothing matches %s", pattern)
		}
		return nil
	})
	ts.Check(err)
}

// lookupJSON decodes the last command's stdout and returns the value at a dotted path.
func lookupJSON(ts *testscript.TestScript, path string) any {
	var v any
	dec := json.NewDecoder(strings.NewReader(ts.ReadFile("stdout")))
	dec.UseNumber() // sizes print whole, not as 4.2e+07
	if err := dec.Decode(&v); err != nil {
		ts.Fatalf("stdout is not JSON: %v", err)
	}
	for _, k := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[k]; !ok {
				ts.Fatalf("%s: no key %q", path, k)
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(c) {
				ts.Fatalf("%s: no element %q in an array of %d", path, k, len(c))
			}
			v = c[i]
		default:
			ts.Fatalf("%s: %q is not in an object or array", path, k)
		}
	}
	return v
}

// jsoneq PATH VALUE: the value at PATH in stdout's JSON prints as VALUE.
func cmdJSONEq(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: jsoneq PATH VALUE")
	}
	got := fmt.Sprint(lookupJSON(ts, args[0]))
	if (got == args[1]) == neg {
		ts.Fatalf("%s = %s, want %s%s", args[0], got, map[bool]string{true: "not ", false: ""}[neg], args[1])
	}
}

// jsonlen PATH N: the array at PATH in stdout's JSON has N elements.
func cmdJSONLen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: jsonlen PATH N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	a, ok := lookupJSON(ts, args[0]).([]any)
	if !ok {
		ts.Fatalf("%s is not an array", args[0])
	}
	if len(a) != want {
		ts.Fatalf("%s has %d elements, want %d", args[0], len(a), want)
	}
}

// checkpw DATA EMAIL: the password printed on the last command's `password: …` line is
// EMAIL's, as the admin API's password check says (with !, a wrong password is refused).
func cmdCheckPassword(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: checkpw DATA EMAIL")
	}
	password := ""
	for _, line := range strings.Split(ts.ReadFile("stdout"), "\n") {
		if p, ok := strings.CutPrefix(line, "password: "); ok {
			password = strings.TrimSpace(p)
		}
	}
	if password == "" {
		ts.Fatalf("no `password: …` line in stdout")
	}
	if neg {
		password += "-wrong"
	}
	cf := clientFlags{data: ts.MkAbs(args[0])}
	c, err := cf.client()
	ts.Check(err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok, err := c.CheckPassword(ctx, args[1], password)
	ts.Check(err)
	if ok == neg {
		ts.Fatalf("password check for %s = %v, want %v", args[1], ok, !neg)
	}
}
