package main

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"valise/node"
)

func newServeCmd() *cobra.Command {
	var (
		dataDir, configPath                    string
		listen, clusterListen, advertise, sock string
		adminListen                            string
	)
	cmd := &cobra.Command{
		Use:   "serve --data DIR",
		Short: "Run the node",
		Long: "serve runs the node: HTTPS on --listen, Raft and node-to-node traffic over mutual TLS on --cluster-listen,\n" +
			"the admin API on the admin socket and, over mutual TLS for admin certificates, on --admin-listen. It stops in order on SIGTERM or SIGINT.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required("--data DIR", dataDir); err != nil {
				return err
			}
			if configPath == "" {
				configPath = filepath.Join(dataDir, node.ConfigFileName)
			}
			cfg, err := node.LoadConfig(configPath, dataDir)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			if f.Changed("listen") {
				cfg.Network.Listen = listen
			}
			if f.Changed("cluster-listen") {
				cfg.Network.ClusterListen = clusterListen
			}
			if f.Changed("advertise") {
				cfg.Network.Advertise = advertise
			}
			if f.Changed("admin-socket") {
				cfg.Network.AdminSocket = sock
			}
			if f.Changed("admin-listen") {
				cfg.Network.AdminListen = adminListen
				if adminListen == "" {
					cfg.Network.AdminListen = node.AdminListenOff
				}
			}
			return node.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	addDataFlag(cmd, &dataDir)
	f.StringVar(&configPath, "config", "", "the configuration file (default DIR/valise.toml)")
	f.StringVar(&listen, "listen", "", "the HTTPS address, host:port (default: the configuration's, :8443 from init)")
	f.StringVar(&clusterListen, "cluster-listen", "", "the cluster (mTLS) address, host:port (default: the configuration's, :8444 from init)")
	f.StringVar(&advertise, "advertise", "", "the host peers reach this node at (default: the configuration's)")
	f.StringVar(&adminListen, "admin-listen", "", "the admin port (mutual TLS, admin certificates), host:port; \"\" or off for none (default: the configuration's, or the --listen host on :8445)")
	f.StringVar(&sock, "admin-socket", "", "the admin socket (default: the configuration's, or DIR/admin.sock)")
	return cmd
}
