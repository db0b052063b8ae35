// Package keyring holds the cluster's secrets: the key-encryption key that wraps every file's
// data key, the Ed25519 signing key that signs the journal head and proofs, and the cluster's
// own certificate authority that issues node and HTTPS certificates.
//
// All of them live in one key directory, by convention DIR/keys beside (never inside) the disk
// directories, so that stolen data disks, shard files or metadata backups reveal nothing:
//
//	cluster.key  the 256-bit key-encryption key (KEK)       mode 0600
//	signing.key  the Ed25519 signing key's 32-byte seed     mode 0600
//	ca.key       the CA's ECDSA P-256 private key (PKCS#8)  mode 0600
//	ca.pem       the CA certificate (then, during a `ca renew`
//	             transition, the CAs it replaced)            mode 0644
//
// cluster.key and signing.key use Valise's key file format (see keyfile.go): a magic and
// version line naming the key's kind and its protection, then the key. Today the protection
// is always "plain" (the file's mode is the protection); the format leaves room for "sealed"
// files, encrypted under an operator passphrase and unsealed from the console, without a
// change of layout. Load refuses a file it cannot read with a clear error.
//
// keyring imports nothing of Valise: the node adapts its methods to the interfaces blobstore
// (KeyWrapper) and raftfsm (HeadSigner) declare.
package keyring

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by this package. Callers test them with errors.Is.
var (
	// ErrExists is returned by Create when the key directory already holds any key file:
	// keys are created once, at init, and never overwritten.
	ErrExists = errors.New("keyring: keys already exist")

	// ErrMissing is returned by Load when a key file is absent (the node was not initialised,
	// or the key directory is not where the configuration says).
	ErrMissing = errors.New("keyring: key file missing")

	// ErrPermissions is returned by Load when a secret key file (or the key directory) can be
	// read or written by anyone but its owner.
	ErrPermissions = errors.New("keyring: key file permissions too open")

	// ErrBadKeyFile is returned by Load for a key file that is not in a known format or holds
	// a key of the wrong length.
	ErrBadKeyFile = errors.New("keyring: malformed key file")

	// ErrSealed is returned by Load for a key file sealed under an operator passphrase, which
	// this version cannot unseal yet.
	ErrSealed = errors.New("keyring: key file is sealed")

	// ErrUnwrap is returned by Unwrap when the wrapped key is malformed, was wrapped under
	// another key-encryption key, or was wrapped for another file ID.
	ErrUnwrap = errors.New("keyring: cannot unwrap data key")

	// ErrBadKey is returned by Wrap for a data key of an unsupported length.
	ErrBadKey = errors.New("keyring: bad data key")

	// ErrBadNodeID is returned by IssueNodeCert for an empty or malformed node ID.
	ErrBadNodeID = errors.New("keyring: bad node ID")

	// ErrOutsideConstraints is returned by IssueNodeCert, IssueServerCert and SignServerCSR
	// for a DNS name or IP address the CA's name constraints do not permit: the CA never
	// signs it (a client would refuse the certificate).
	ErrOutsideConstraints = errors.New("keyring: name outside the cluster CA's name constraints")

	// ErrBadConstraints is returned by CreateConstrained and Renew for a malformed domain or
	// address range.
	ErrBadConstraints = errors.New("keyring: bad name constraint")
)

// File names inside the key directory.
const (
	// DirName is the conventional name of the key directory inside the node's data directory.
	DirName = "keys"

	kekFile     = "cluster.key"
	signingFile = "signing.key"
	caKeyFile   = "ca.key"
	caCertFile  = "ca.pem"
)

// Keyring holds the cluster's keys in memory. It is safe for concurrent use: nothing in it
// changes after Create or Load but the CA, which Renew replaces atomically.
type Keyring struct {
	dir     string
	kek     kek                // never nil after Create or Load
	prk     []byte             // HKDF-Extract of the KEK, for DeriveKey; set with kek
	signing ed25519.PrivateKey // never nil after Create or Load
	now     func() time.Time   // time.Now; certificates' validity starts from it

	// authority is the cluster CA; never nil after Create or Load. Renew replaces it whole.
	authority atomic.Pointer[authority]
	renewMu   sync.Mutex // serialises Renew
}

// Create makes a new set of cluster keys in dir (created with mode 0700 if missing) and returns
// them loaded. It refuses with ErrExists if dir already holds any of the key files. Each file is
// written atomically (temporary file, fsync, rename, directory fsync), the secret ones with mode
// 0600. Its CA has no name constraints, as clusters made before issue 16 have: a new cluster
// uses CreateConstrained.
func Create(dir string) (*Keyring, error) { return create(dir, nil) }

// CreateConstrained is Create with a CA that may certify only the names nc permits (see
// NameConstraints): what `appliance init` makes.
func CreateConstrained(dir string, nc NameConstraints) (*Keyring, error) { return create(dir, &nc) }

func create(dir string, nc *NameConstraints) (*Keyring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restrict key directory %s: %w", dir, err)
	}
	for _, name := range []string{kekFile, signingFile, caKeyFile, caCertFile} {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("create keys in %s: %w (%s)", dir, ErrExists, name)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("check %s: %w", p, err)
		}
	}

	k := &Keyring{dir: dir, now: time.Now}
	kekBytes, err := randomBytes(kekSize)
	if err != nil {
		return nil, err
	}
	if err := k.setKEK(kekBytes); err != nil {
		return nil, err
	}
	seed, err := randomBytes(ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	k.signing = ed25519.NewKeyFromSeed(seed)
	a, caKeyDER, err := k.newCA(nc)
	if err != nil {
		return nil, err
	}
	k.authority.Store(a)

	// The CA certificate last: its presence is what Load checks for a finished init, and the
	// secrets must be durable before anything is signed with them.
	if err := writeFileAtomic(filepath.Join(dir, kekFile), encodeKeyFile(kindKEK, kekBytes), 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, signingFile), encodeKeyFile(kindSigning, seed), 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, caKeyFile), encodePEM("PRIVATE KEY", caKeyDER), 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, caCertFile), a.pem, 0o644); err != nil {
		return nil, err
	}
	return k, nil
}

// Load reads the cluster keys from dir, as written by Create. It fails with ErrMissing when a
// key file is absent, ErrPermissions when the directory or a secret file is accessible to
// group or others, ErrSealed for a sealed key file and ErrBadKeyFile for anything else it
// cannot read; the error names the file.
func Load(dir string) (*Keyring, error) {
	if err := checkPrivate(dir, true); err != nil {
		return nil, err
	}
	k := &Keyring{dir: dir, now: time.Now}

	kekBytes, err := readKeyFile(filepath.Join(dir, kekFile), kindKEK, kekSize)
	if err != nil {
		return nil, err
	}
	if err := k.setKEK(kekBytes); err != nil {
		return nil, err
	}
	seed, err := readKeyFile(filepath.Join(dir, signingFile), kindSigning, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	k.signing = ed25519.NewKeyFromSeed(seed)
	if err := k.loadCA(); err != nil {
		return nil, err
	}
	return k, nil
}

// Dir returns the key directory the keyring was created in or loaded from.
func (k *Keyring) Dir() string { return k.dir }
