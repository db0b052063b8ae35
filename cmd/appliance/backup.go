package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"valise/adminapi"
	"valise/node"
)

// newBackupCmd is `appliance backup`: a backup of the running node's metadata and the
// cluster's keys written to a file, with `backup verify` and `backup list` below it.
func newBackupCmd() *cobra.Command {
	var (
		out, passFile, recipient string
		req                      adminapi.BackupRequest
	)
	cmd := newAdminCmd(&cobra.Command{
		Use:   "backup --data DIR --out FILE [--passphrase-file F | --recipient AGE_PUBKEY] [--json]",
		Short: "Write a backup of the metadata and the cluster's keys to a file, encrypted and signed",
		Long: "backup has the running node stream one file holding a point-in-time snapshot of the metadata (users,\n" +
			"sends, wrapped file keys, the journal), the cluster's keys and a manifest, encrypted with age (a\n" +
			"passphrase read from the first line of --passphrase-file, or an age public key given with --recipient)\n" +
			"and signed with the cluster's key. It writes FILE.part, syncs it and renames it FILE; it never writes\n" +
			"over an existing FILE and leaves nothing behind when it fails. It prints the file's size, SHA-256, the\n" +
			"metadata's applied index and the signing key's fingerprint (what restore --expect-key checks).\n" +
			"File contents are not in the backup: they stay on the disks, protected by erasure coding.",
		Args: cobra.NoArgs,
	}, adminCall[backupResult]{
		check: func([]string) error {
			if err := required("--out FILE", out); err != nil {
				return err
			}
			if (passFile == "") == (recipient == "") {
				return usageError{errors.New("give --passphrase-file F or --recipient AGE_PUBKEY (one of them)")}
			}
			if _, err := os.Lstat(out); err == nil {
				return fmt.Errorf("%s exists already: a backup is never written over, choose another name", out)
			}
			req = adminapi.BackupRequest{Recipient: recipient}
			if passFile != "" {
				p, err := readPassphrase(passFile)
				if err != nil {
					return err
				}
				req.Passphrase = p
			}
			return nil
		},
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (backupResult, error) {
			return writeBackup(cmd, c, req, out)
		},
		text: func(w io.Writer, r backupResult) error {
			return printFields(w, []field{
				{"backup", r.File},
				{"size", fmt.Sprintf("%d bytes (%s)", r.Size, formatSize(r.Size))},
				{"sha256", r.SHA256},
				{"index", fmt.Sprint(r.Index)},
				{"signing-key", r.SigningKey},
			})
		},
		jsonUsage: "print the result as JSON",
	})
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "the backup file to write (must not exist)")
	f.StringVar(&passFile, "passphrase-file", "", "a file whose first line is the passphrase that encrypts the backup")
	f.StringVar(&recipient, "recipient", "", "the age public key (age1…) that encrypts the backup: only its identity reads it")
	cmd.AddCommand(newBackupVerifyCmd(), newBackupListCmd(), newBackupNowCmd())
	return cmd
}

// backupResult is what `backup` prints.
type backupResult struct {
	File       string `json:"file"`
	ID         string `json:"id"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Index      uint64 `json:"index"`
	SigningKey string `json:"signing_key"`
}

// writeBackup streams the node's backup into out.part, syncs it and renames it out; on any
// failure, out.part is removed.
func writeBackup(cmd *cobra.Command, c *adminapi.Client, req adminapi.BackupRequest, out string) (res backupResult, err error) {
	part := out + ".part"
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return res, fmt.Errorf("%s exists: another backup is being written there, or one was interrupted (remove it)", part)
	}
	if err != nil {
		return res, fmt.Errorf("create the backup file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(part)
		}
	}()
	h := sha256.New()
	bar := newProgressBar(cmd.ErrOrStderr())
	start, n, err := c.Backup(cmd.Context(), req, io.MultiWriter(f, h), bar.update)
	bar.done()
	if err != nil {
		if cmd.Context().Err() != nil {
			return res, fmt.Errorf("backup interrupted: %s removed", part)
		}
		return res, fmt.Errorf("backup failed (%s removed): %w", part, err)
	}
	if err = f.Sync(); err != nil {
		return res, fmt.Errorf("sync %s: %w", part, err)
	}
	if err = f.Close(); err != nil {
		return res, fmt.Errorf("close %s: %w", part, err)
	}
	if _, serr := os.Lstat(out); serr == nil {
		err = fmt.Errorf("%s appeared while the backup was written: not written over", out)
		return res, err
	}
	if err = os.Rename(part, out); err != nil {
		return res, fmt.Errorf("rename %s: %w", part, err)
	}
	if d, derr := os.Open(filepath.Dir(out)); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return backupResult{File: out, ID: start.ID, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Index: start.Index, SigningKey: start.SigningKey}, nil
}

// readUnlock reads what decrypts a backup: the passphrase in passFile, or the age identity
// file identity; exactly one of them must be given.
func readUnlock(passFile, identity string) (node.Unlock, error) {
	var u node.Unlock
	if (passFile == "") == (identity == "") {
		return u, usageError{errors.New("give --passphrase-file F or --identity F (one of them)")}
	}
	if passFile != "" {
		p, err := readPassphrase(passFile)
		u.Passphrase = []byte(p)
		return u, err
	}
	b, err := os.ReadFile(identity)
	if err != nil {
		return u, fmt.Errorf("read the identity: %w", err)
	}
	u.Identity = b
	return u, nil
}

// readPassphrase returns the first line of the file at path, its line ending stripped; an
// empty one is refused.
func readPassphrase(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read the passphrase: %w", err)
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the passphrase: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", fmt.Errorf("the passphrase file %s is empty (the passphrase is its first line)", path)
	}
	return line, nil
}

// progressBar draws the backup's progress on stderr when it is a terminal, else nothing.
type progressBar struct {
	w     io.Writer // nil: not a terminal
	last  time.Time
	drawn bool
}

func newProgressBar(stderr io.Writer) *progressBar {
	f, ok := stderr.(*os.File)
	if !ok {
		return &progressBar{}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return &progressBar{}
	}
	return &progressBar{w: f}
}

// update redraws the bar, at most ten times a second.
func (b *progressBar) update(s adminapi.BackupStart, done int64) {
	if b.w == nil || time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last, b.drawn = time.Now(), true
	if s.Estimate <= 0 {
		fmt.Fprintf(b.w, "\rbackup: %s", formatSize(done))
		return
	}
	pct := min(100, int(done*100/s.Estimate))
	fmt.Fprintf(b.w, "\rbackup: [%-30s] %3d%% %s of about %s ", strings.Repeat("#", pct*30/100), pct, formatSize(done), formatSize(s.Estimate))
}

// done ends the bar's line.
func (b *progressBar) done() {
	if b.w != nil && b.drawn {
		fmt.Fprintln(b.w)
	}
}

// newBackupVerifyCmd is `appliance backup verify FILE`: offline, no node needed.
func newBackupVerifyCmd() *cobra.Command {
	var (
		passFile, identity, expect string
		asJSON                     bool
	)
	cmd := &cobra.Command{
		Use:   "verify FILE [--passphrase-file F | --identity F] [--expect-key SHA256:…] [--json]",
		Short: "Check a backup file offline: decrypt it, walk its journal, check its signatures",
		Long: "backup verify reads a whole backup file without any node: it decrypts it (the passphrase on the first\n" +
			"line of --passphrase-file, or the age identity file --identity), checks the snapshot's integrity, walks\n" +
			"the journal's hash chain inside it and checks the signatures of the file and of the journal head. With\n" +
			"--expect-key it also checks that the signing key is the cluster's (init and status print it). It\n" +
			"prints what the backup holds, or the first fault and exits 1.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || args[0] == "" {
				return usageError{errors.New("backup verify takes one argument: the backup file")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := readUnlock(passFile, identity)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("open the backup: %w", err)
			}
			defer f.Close()
			rep, err := node.VerifyBackup(bufio.NewReaderSize(f, 256<<10), u, expect)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			return printAnswer(cmd.OutOrStdout(), verifyResult{File: args[0], BackupReport: rep, Expected: expect != ""}, asJSON, printVerify)
		},
	}
	f := cmd.Flags()
	f.StringVar(&passFile, "passphrase-file", "", "a file whose first line is the backup's passphrase")
	f.StringVar(&identity, "identity", "", "the age identity file that decrypts a backup written with --recipient")
	f.StringVar(&expect, "expect-key", "", "the signing key's fingerprint the backup must be signed with (SHA256:…)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// verifyResult is what `backup verify` prints.
type verifyResult struct {
	File string `json:"file"`
	node.BackupReport
	Expected bool `json:"signing_key_expected"` // --expect-key was given and matched
}

func printVerify(out io.Writer, r verifyResult) error {
	key := r.SigningKey
	if r.Expected {
		key += " (as expected)"
	}
	return printFields(out, []field{
		{"backup", r.File},
		{"cluster", r.Cluster},
		{"node", r.Node},
		{"created", r.Created.UTC().Format(time.RFC3339)},
		{"version", r.Version},
		{"index", fmt.Sprintf("%d (term %d)", r.Index, r.Term)},
		{"journal", fmt.Sprintf("%d entries, head %d verified", r.JournalEntries, r.JournalHeadSeq)},
		{"signing-key", key},
		{"users", fmt.Sprint(r.Users)},
		{"sends", fmt.Sprint(r.Sends)},
		{"files", fmt.Sprint(r.Files)},
		{"verified", "ok"},
	})
}

// newBackupListCmd is `appliance backup list`: the backups the cluster recorded.
func newBackupListCmd() *cobra.Command {
	return newAdminCmd(&cobra.Command{
		Use:   "list --data DIR [--json]",
		Short: "List the backups the cluster recorded, newest first",
		Args:  cobra.NoArgs,
	}, adminCall[adminapi.BackupList]{
		call:      plainCall((*adminapi.Client).Backups),
		text:      printBackups,
		jsonUsage: "print the list as JSON",
	})
}

func printBackups(out io.Writer, l adminapi.BackupList) error {
	if len(l.Backups) == 0 {
		_, err := fmt.Fprintln(out, "no backup recorded")
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKUP\tSTARTED\tNODE\tKIND\tINDEX\tSIZE\tSTATE\tFILE")
	for _, b := range l.Backups {
		kind := "command"
		if b.Scheduled {
			kind = "scheduled"
		}
		file := b.Path
		if file == "" {
			file = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", b.ID, b.Started.UTC().Format(time.RFC3339), b.Node, kind, b.Index, formatSize(b.Size), backupState(b), file)
	}
	return tw.Flush()
}

// backupState says how a recorded backup ended.
func backupState(b adminapi.BackupRecord) string {
	switch {
	case b.Error != "":
		return "FAILED: " + b.Error
	case b.Deleted:
		return "deleted (backup.keep)"
	}
	return "ok"
}

// lastBackupLine sums up the last recorded backup for status.
func lastBackupLine(b *adminapi.BackupRecord) string {
	if b == nil {
		return "none recorded"
	}
	return fmt.Sprintf("%s %s, index %d, %s", b.ID, b.Started.UTC().Format(time.RFC3339), b.Index, backupState(*b))
}
