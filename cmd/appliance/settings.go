package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newSettingsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "settings",
		Short: "Read and change the cluster-wide settings",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSettingsGetCmd(), newSettingsSetCmd())
	return cmd
}

func newSettingsGetCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "get --data DIR [KEY]",
		Short: "Print one setting's value, or every setting",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			defer c.Close()
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				s, err := c.Setting(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(out, s.Value)
				return nil
			}
			list, err := c.Settings(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
			for _, s := range list {
				origin := ""
				if !s.Set {
					origin = "(default)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Key, s.Value, origin)
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	return cmd
}

func newSettingsSetCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "set --data DIR KEY VALUE",
		Short: "Change one setting, cluster-wide (journalled)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			defer c.Close()
			s, err := c.SetSetting(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s = %s\n", s.Key, s.Value)
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}
