package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"valise/adminapi"
)

// newHealCmd is `appliance heal`: run the heal job now and follow it.
func newHealCmd() *cobra.Command {
	return newJobCmd(adminapi.JobHeal, &cobra.Command{
		Use:   "heal --data DIR [--json]",
		Short: "Repair now the files that lost shards, and show the progress",
		Long: "heal has the leader check every stored file's shards (present, of this file, whole) and rebuild the\n" +
			"missing or corrupt ones from the others, on their disk or another one, then record where they are.\n" +
			"It prints a progress line (files, bytes, ETA) until the job ends. A heal already running is joined;\n" +
			"another job running (scrub, drain) is refused. heal also runs every heal.interval (setting).",
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, c *adminapi.Client, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
		return c.Heal(cmd.Context(), progress)
	})
}

// newScrubCmd is `appliance scrub`: run the scrub job now and follow it.
func newScrubCmd() *cobra.Command {
	return newJobCmd(adminapi.JobScrub, &cobra.Command{
		Use:   "scrub --data DIR [--json]",
		Short: "Read and verify every piece of every file now, repairing bit rot, and show the progress",
		Long: "scrub has the leader read every piece of every stored file, check its checksum, and rebuild what is\n" +
			"missing or corrupt (as heal does). It reads everything, within heal.bandwidth: it is slow on purpose.\n" +
			"It prints a progress line until the job ends. scrub also runs every scrub.interval (setting).",
		Args: cobra.NoArgs,
	}, func(cmd *cobra.Command, c *adminapi.Client, progress func(adminapi.JobProgress)) (adminapi.JobProgress, error) {
		return c.Scrub(cmd.Context(), progress)
	})
}

// newJobCmd completes cmd, a command that runs a repair job and follows it: progress lines on
// stdout (none with --json), then the report; exit status 1 when files could not be repaired
// or the job stopped early.
func newJobCmd(job string, cmd *cobra.Command, call func(*cobra.Command, *adminapi.Client, func(adminapi.JobProgress)) (adminapi.JobProgress, error)) *cobra.Command {
	return newAdminCmd(cmd, adminCall[adminapi.JobProgress]{
		call: func(cmd *cobra.Command, c *adminapi.Client, _ []string) (adminapi.JobProgress, error) {
			out := cmd.OutOrStdout()
			asJSON, _ := cmd.Flags().GetBool("json")
			return call(cmd, c, func(p adminapi.JobProgress) {
				if !asJSON {
					fmt.Fprintln(out, progressLine(p))
				}
			})
		},
		text: func(out io.Writer, p adminapi.JobProgress) error {
			fmt.Fprintln(out, reportLine(p))
			for _, f := range p.Failures {
				fmt.Fprintf(out, "  failed: %s\n", f)
			}
			return jobError(p)
		},
		jsonUsage: "print the final report as JSON (no progress lines)",
	})
}

// progressLine is one progress line: "heal: 12/40 files, 1.2 MB/3.4 MB, ETA 2m10s".
func progressLine(p adminapi.JobProgress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d/%d files, %s/%s", p.Job, p.FilesDone, p.FilesTotal, formatSize(p.BytesDone), formatSize(p.BytesTotal))
	if p.ETASeconds >= 0 {
		fmt.Fprintf(&b, ", ETA %s", time.Duration(p.ETASeconds)*time.Second)
	}
	if p.Job == adminapi.JobRebalance && (p.Moved > 0 || p.Failed > 0) {
		fmt.Fprintf(&b, ", %d moved, %d failed", p.Moved, p.Failed)
	} else if p.Repaired > 0 || p.Failed > 0 {
		fmt.Fprintf(&b, ", %d repaired, %d failed", p.Repaired, p.Failed)
	}
	return b.String()
}

// reportLine sums up a finished job.
func reportLine(p adminapi.JobProgress) string {
	state := "done"
	if p.Error != "" || p.Failed > 0 {
		state = "INCOMPLETE"
	}
	if p.Job == adminapi.JobRebalance {
		return fmt.Sprintf("%s %s: %d files (%s) checked, %d moved, %d failed", p.Job, state,
			p.FilesDone, formatSize(p.BytesDone), p.Moved, p.Failed)
	}
	return fmt.Sprintf("%s %s: %d files (%s) checked, %d repaired (%d moved), %d failed", p.Job, state,
		p.FilesDone, formatSize(p.BytesDone), p.Repaired, p.Moved, p.Failed)
}

// jobError is the error a finished job ends the command with, nil when it held.
func jobError(p adminapi.JobProgress) error {
	switch {
	case p.Error != "":
		return fmt.Errorf("%s: %s", p.Job, p.Error)
	case p.Failed > 0:
		if p.Job == adminapi.JobRebalance {
			return fmt.Errorf("rebalance could not move %d files (see the failures and the node's log); they keep their layout: run it again once fixed", p.Failed)
		}
		return fmt.Errorf("%s could not repair %d files (more shards lost than the layout survives, or no usable disk): see the node's log", p.Job, p.Failed)
	}
	return nil
}
