package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/bridges/fed"
	"github.com/switchboard/switchboard/internal/config"
)

// fedKeyDir is where the federation signing keys live.
func fedKeyDir(cfg config.Config) string { return filepath.Join(cfg.DataDir, "federation", "keys") }

func newFedCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fed",
		Short: "Manage federation with other Switchboard servers",
	}
	keys := &cobra.Command{
		Use:   "keys",
		Short: "List and rotate the keys that sign this server's federation requests",
		Long: `The keys in <data_dir>/federation/keys sign this server's requests to other
servers, which find them in its discovery document (docs/federation.md,
section 3.4). The newest key that is not retiring signs; retiring keys stay
published until their time, for requests signed with them still in flight.
A running daemon reads the directory again within 30 seconds.`,
	}
	keys.AddCommand(newFedKeysListCommand(g), newFedKeysRotateCommand(g))
	cmd.AddCommand(keys)
	return cmd
}

func newFedKeysListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the signing keys and their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			infos, err := fed.ListKeys(fedKeyDir(cfg), time.Now())
			if err != nil {
				return err
			}
			if len(infos) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no keys: the daemon makes one when it starts")
			}
			for _, k := range infos {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", k.ID, k.State)
			}
			return nil
		},
	}
}

func newFedKeysRotateCommand(g *globals) *cobra.Command {
	var retireAfter string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new signing key and retire the current one",
		Long: `Make a new key, which signs from now on, and keep the keys that signed until
now published for --retire-after, then no longer: requests they signed
may be in flight for up to 5 minutes after the daemon stopped using them,
and a running daemon reads its keys again within 30 seconds. Keys retired
by an earlier rotation are deleted.`,
		Example: `  switchboard fed keys rotate
  switchboard fed keys rotate --retire-after 1h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := config.ParseDuration(retireAfter)
			if err != nil || d < 0 {
				return fmt.Errorf("--retire-after %q: want a duration such as 15m or 1h", retireAfter)
			}
			cfg, err := g.config()
			if err != nil {
				return err
			}
			k, retiring, err := fed.RotateKeys(fedKeyDir(cfg), time.Now(), d.Std())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s\tsigns\n", k.ID)
			for _, r := range retiring {
				fmt.Fprintf(out, "%s\tpublished until %s\n", r.ID, r.RetireAt.Format(time.RFC3339))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&retireAfter, "retire-after", "15m", "how long the keys replaced stay published (`DURATION`)")
	return cmd
}
