package main

import (
	"github.com/spf13/cobra"

	"valise/adminapi"
)

// newRebalanceCmd is `appliance rebalance`: move the files written under an older layout, or
// placed where the cluster map no longer places shards, and follow it.
func newRebalanceCmd() *cobra.Command {
	return newJobCmd(adminapi.JobRebalance, &cobra.Command{
		Use:   "rebalance --data DIR [--json]",
		Short: "Rewrite the files whose layout or placement is not what new files get now, and show the progress",
		Long: "A new layout (setting storage.layout) applies to new files. rebalance has the leader rewrite every\n" +
			"stored file whose layout is another, whose shards sit on disks that take no new shards (draining,\n" +
			"failed, retired), or that hold more shards in one failure domain than the layout may lose: each is\n" +
			"copied under the current layout and placement, checked (size and SHA-256), recorded, and only then\n" +
			"are its old shards deleted. A file changed or deleted meanwhile keeps its record; its copy is dropped.\n" +
			"It reads within heal.bandwidth and prints a progress line until the job ends. A rebalance already\n" +
			"running is joined; another job running (heal, scrub, drain) is refused.",
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, c *adminapi.Client, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
		return c.Rebalance(cmd.Context(), progress)
	})
}
