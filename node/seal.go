package node

import (
	"bytes"
	"context"
	"fmt"

	"valise/keyring"
	"valise/notify"
	"valise/raftfsm"
)

// Purposes of the values sealed with the cluster key in the metadata (keyring.Seal), so that
// a stolen disk, snapshot or backup of the metadata reveals neither the relay's password nor
// the link tokens in queued mails (issue 16 item 9), as certstore does for HTTPS keys.
const (
	sealSettings = "settings"
	sealMail     = "notify"
)

// sealedStore is notify's view of the metadata: every value it puts under its prefixes is
// sealed with the cluster key, and opened again when read. Mails written in clear before
// sealing still read.
type sealedStore struct {
	store *raftfsm.Store   // never nil
	keys  *keyring.Keyring // never nil
}

var _ notify.Store = sealedStore{}

// mailKey reports whether key holds a mail: a queue record or an outbox message.
func mailKey(key []byte) bool {
	return bytes.HasPrefix(key, []byte(notify.QueuePrefix)) || bytes.HasPrefix(key, []byte(notify.OutboxPrefix))
}

// Propose seals the values b puts at mail keys, then proposes it.
func (s sealedStore) Propose(ctx context.Context, b raftfsm.Batch) (raftfsm.Result, error) {
	ops := make([]raftfsm.Op, len(b.Ops))
	for i, op := range b.Ops {
		if op.Kind == raftfsm.OpPut && mailKey(op.Key) {
			v, err := s.keys.Seal(sealMail, string(op.Key), op.Value)
			if err != nil {
				return raftfsm.Result{}, fmt.Errorf("seal %s: %w", op.Key, err)
			}
			op.Value = v
		}
		ops[i] = op
	}
	b.Ops = ops
	return s.store.Propose(ctx, b)
}

// Get returns key's item, opened.
func (s sealedStore) Get(key []byte) (raftfsm.Item, error) {
	it, err := s.store.Get(key)
	if err != nil {
		return it, err
	}
	return s.open(it)
}

// Scan calls fn with each item under prefix, opened.
func (s sealedStore) Scan(prefix []byte, fn func(raftfsm.Item) error) error {
	return s.store.Scan(prefix, func(it raftfsm.Item) error {
		it, err := s.open(it)
		if err != nil {
			return err
		}
		return fn(it)
	})
}

func (s sealedStore) open(it raftfsm.Item) (raftfsm.Item, error) {
	if !mailKey(it.Key) {
		return it, nil
	}
	v, err := s.keys.Open(sealMail, string(it.Key), it.Value)
	if err != nil {
		return it, fmt.Errorf("open %s: %w", it.Key, err)
	}
	it.Value = v
	return it, nil
}

// sealSetting returns the stored form of a setting: sealed for a secret one that is set.
func sealSetting(keys *keyring.Keyring, key, value string) ([]byte, error) {
	if !knownSettings[key].secret || value == "" {
		return []byte(value), nil
	}
	v, err := keys.Seal(sealSettings, settingsPrefix+key, []byte(value))
	if err != nil {
		return nil, fmt.Errorf("seal setting %s: %w", key, err)
	}
	return v, nil
}

// openSetting returns a setting's value from its stored form.
func openSetting(keys *keyring.Keyring, key string, stored []byte) (string, error) {
	v, err := keys.Open(sealSettings, settingsPrefix+key, stored)
	if err != nil {
		return "", fmt.Errorf("open setting %s: %w", key, err)
	}
	return string(v), nil
}
