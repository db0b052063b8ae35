package main

import (
	"errors"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

// newClusterCmd is `appliance cluster`: the commands on the cluster's membership.
func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Manage the cluster's nodes",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newClusterRemoveCmd())
	return cmd
}

// newClusterRemoveCmd is `appliance cluster remove NODE`: drain a node, then mark it removed.
func newClusterRemoveCmd() *cobra.Command {
	var node string
	cmd := newJobCmd(adminapi.JobDrain, &cobra.Command{
		Use:   "remove --data DIR NODE [--json]",
		Short: "Drain a node (move every shard off its disks), then remove it from the cluster",
		Long: "cluster remove has the leader rebuild every shard held on NODE's disks onto the other nodes' disks,\n" +
			"showing the progress, then mark NODE removed (the leader then takes it out of Raft). It is refused,\n" +
			"with the reason, when the other nodes cannot hold the files. Run it on the leader; an interrupted\n" +
			"drain goes on in the background and can be followed by running the command again.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 || args[0] == "" {
				return usageError{errors.New("cluster remove takes one argument: the ID of the node to remove")}
			}
			node = args[0]
			return nil
		},
	}, func(cmd *cobra.Command, c *adminapi.Client, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
		return c.Drain(cmd.Context(), adminapi.DrainRequest{Node: node}, progress)
	})
	return cmd
}

// newLeaveCmd is `appliance leave`: cluster remove for the node it runs on.
func newLeaveCmd() *cobra.Command {
	return newJobCmd(adminapi.JobDrain, &cobra.Command{
		Use:   "leave --data DIR [--json]",
		Short: "Drain this node (move every shard off its disks), then remove it from the cluster",
		Long: "leave is `cluster remove` for the node of --data: its shards are rebuilt on the other nodes' disks,\n" +
			"with progress, then the node is marked removed. It is refused when the others cannot hold the files.",
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, c *adminapi.Client, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
		return c.Drain(cmd.Context(), adminapi.DrainRequest{}, progress)
	})
}
