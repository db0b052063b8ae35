package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"valise/adminapi"
	"valise/node"
)

// clientFlags are the flags of every command that talks to a running node.
type clientFlags struct {
	data   string // --data
	socket string // --admin-socket
}

// addDataFlag adds --data to cmd.
func addDataFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "data", "", "the node's data directory (required)")
}

// register adds --data and --admin-socket to cmd.
func (f *clientFlags) register(cmd *cobra.Command) {
	addDataFlag(cmd, &f.data)
	cmd.Flags().StringVar(&f.socket, "admin-socket", "", "the node's admin socket (default: the config's, or DIR/admin.sock)")
}

// client returns an admin client for the node of --data, on --admin-socket, or the socket its
// configuration names, or DIR/admin.sock.
func (f *clientFlags) client() (*adminapi.Client, error) {
	if f.data == "" && f.socket == "" {
		return nil, usageError{errors.New("--data DIR is required")}
	}
	sock := f.socket
	if sock == "" {
		sock = filepath.Join(f.data, "admin.sock")
		cfgPath := filepath.Join(f.data, node.ConfigFileName)
		if _, err := os.Stat(cfgPath); err == nil {
			cfg, err := node.LoadConfig(cfgPath, f.data)
			if err != nil {
				return nil, err
			}
			sock = cfg.AdminSocketPath()
		} else if _, err := os.Stat(f.data); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("data directory %s does not exist: %w", f.data, adminapi.ErrNotRunning)
		}
	}
	return adminapi.NewClient(sock), nil
}

// requireData fails with a usage error when --data is missing.
func requireData(dir string) error {
	if dir == "" {
		return usageError{errors.New("--data DIR is required")}
	}
	return nil
}
