package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/internal/config"
)

func newConfigCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Show or check the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "example",
		Short: "Print a configuration file with every key at its default",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(cmd.OutOrStdout(), config.Example())
			return nil
		},
	}, &cobra.Command{
		Use:   "check",
		Short: "Check the file given with --config; errors name the line and key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.configFile == "" {
				return errors.New("--config: name the file to check")
			}
			cfg, err := g.config()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (domain %s, data in %s)\n", g.configFile, cfg.Domain, cfg.DataDir)
			return nil
		},
	})
	return cmd
}
