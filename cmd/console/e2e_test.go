package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"valise/adminapi"
	"valise/cmd/appliance/clustertest"
	"valise/scan/scantest"
)

// clamd is one clamd for the nodes of this test binary.
var clamd = scantest.NewShared(2)

func TestMain(m *testing.M) {
	code := m.Run()
	clamd.Close()
	clustertest.RemoveBinary()
	if consoleBuild.dir != "" {
		os.RemoveAll(consoleBuild.dir)
	}
	os.Exit(code)
}

// TestConsoleEndToEnd is issue 20's walk through the console as an administrator would take
// it: the real console binary in a real terminal (tmux) against a real node, over its Unix
// socket. It creates a user through the form, imports a CSV of 500 users, sets a quota,
// revokes a send made through the API, and finds each action in the Journal screen, named
// with the local administrator's uid. Then the same console over mutual TLS with an issued
// admin certificate, and refused once that certificate is revoked.
func TestConsoleEndToEnd(t *testing.T) {
	findTmux(t)
	bin := consoleBinary(t)
	c := clustertest.New(t, clustertest.Options{Sites: []string{"paris"}, ClamdAddress: "unix:" + clamd.Daemon(t).Client().Addr})
	n := c.Nodes[0]
	sock := filepath.Join(n.Dir, "admin.sock")
	actor := fmt.Sprintf("local administrator (uid %d)", os.Getuid())

	// A send made through the REST API, by a user the console will find in Transfers.
	token := n.User("sender@example.org")
	file, err := n.UploadAll(token, "report.pdf", []byte("the quarterly report, for the console test"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	n.WaitClean(token, file)
	sendID, _, err := n.Send(token, "reader@example.org", file) // subject "clustertest"
	if err != nil {
		t.Fatal(err)
	}

	csv := filepath.Join(t.TempDir(), "staff.csv")
	var b strings.Builder
	b.WriteString("email;name;role;lang\n")
	for i := range 500 {
		fmt.Fprintf(&b, "staff%03d@example.org;Staff %03d;user;fr\n", i, i)
	}
	if err := os.WriteFile(csv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	passwords := filepath.Join(t.TempDir(), "passwords.csv")

	tm := startTerm(t, 120, 40, []string{"LANG=en_GB.UTF-8"}, bin, "--socket", sock)
	tm.waitFor("connected to "+sock, "Overview")

	// Create a user.
	{
		tm.keys("2")
		tm.waitFor("sender@example.org")
		tm.keys("n")
		tm.waitFor("New user")
		tm.text("dora@example.org")
		tm.keys("Tab")
		tm.text("Dora Marquez")
		tm.keys("C-s")
		tm.waitFor("Password for dora@example.org", "Shown once")
		tm.keys("Enter")
		tm.waitFor("dora@example.org", "Dora Marquez")
	}

	// Import 500 users.
	{
		tm.keys("i")
		tm.waitFor("CSV")
		tm.text(csv)
		tm.keys("C-s")
		tm.waitFor("Import preview (nothing created yet)", "500 lines: 500 to create, 0 to update, 0 unchanged, 0 refused")
		tm.keys("Enter")
		tm.waitFor("Import: 500 created")
		tm.keys("y")
		tm.waitFor("Import done", "500 lines: 500 created")
		tm.keys("w")
		tm.text(passwords)
		tm.keys("C-s")
		tm.waitFor("Passwords saved to " + passwords)
		tm.escape("Import done")
		st, err := os.Stat(passwords)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("passwords file mode %v, want 0600", st.Mode().Perm())
		}
		if got := strings.Count(readFile(t, passwords), "@example.org"); got != 500 {
			t.Errorf("passwords file holds %d addresses, want 500", got)
		}
	}

	// Set a quota.
	{
		tm.keys("/")
		tm.waitFor("Search")
		tm.text("staff042")
		tm.keys("C-s")
		tm.waitFor("staff042@example.org", "1–1 of 1")
		tm.keys("e")
		tm.waitFor("Edit staff042@example.org")
		tm.keys("Tab", "Tab", "Tab")
		for range len("default") {
			tm.keys("BSpace")
		}
		tm.text("5G")
		tm.keys("C-s")
		tm.waitFor("User staff042@example.org changed")
		u := getUser(t, sock, "staff042@example.org")
		if u.QuotaBytes != 5<<30 {
			t.Errorf("quota %d, want %d", u.QuotaBytes, int64(5<<30))
		}
	}

	// Revoke a send.
	{
		tm.keys("3")
		tm.waitFor("sender@example.org", "clustertest")
		tm.keys("r")
		tm.waitFor("Revoke")
		tm.keys("y")
		tm.waitFor("revoked")
		tr, err := adminapi.NewClient(sock).GetTransfer(t.Context(), sendID)
		if err != nil {
			t.Fatal(err)
		}
		if tr.State != adminapi.TransferRevoked {
			t.Errorf("send %s is %q after the console revoked it", sendID, tr.State)
		}
	}

	// Each action in the journal.
	{
		tm.keys("4")
		for _, action := range []string{"user.add", "user.import", "user.edit", "send.revoke"} {
			tm.keys("/")
			tm.waitFor("Search")
			tm.text(action)
			tm.keys("C-s")
			tm.waitFor(`filters: "`+action+`"`, action, actor)
			tm.escape(`filters: "`)
		}
	}

	tm.keys("q")

	// The same console from an admin workstation, over mutual TLS.
	certDir := filepath.Join(t.TempDir(), "alice")
	n.MustRun("admin", "cert", "--out", certDir, "--name", "alice", "--role", "supervisor")
	url := "https://" + n.IP + ":8445"
	remote := startTerm(t, 120, 40, []string{"LANG=en_GB.UTF-8"}, bin, "--url", url, "--cert", certDir)
	remote.waitFor("connected to " + url)
	remote.keys("2")
	remote.waitFor("dora@example.org")
	remote.keys("q")

	n.MustRun("admin", "cert", "revoke", "alice")
	refused := startTerm(t, 120, 40, []string{"LANG=en_GB.UTF-8"}, bin, "--url", url, "--cert", certDir)
	refused.waitFor("revoked or unknown")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func getUser(t *testing.T, sock, email string) adminapi.UserInfo {
	t.Helper()
	c := adminapi.NewClient(sock)
	defer c.Close()
	u, err := c.GetUser(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
