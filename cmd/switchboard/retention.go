package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/internal/config"
)

func newRetentionCommand(g *globals) *cobra.Command {
	var (
		conv, maxAge      string
		keep, inheritFlag bool
	)
	cmd := &cobra.Command{
		Use:   "retention USER",
		Short: "Set how long a user's messages, or one conversation's, are kept",
		Long: `Set how long messages are kept before the daemon prunes them. The most
specific setting wins: a conversation's own, else the user's, else the
configuration's history.retention. Without a setting flag, shows the settings.`,
		Example: `  switchboard retention alice --max-age 365d
  switchboard retention alice --in '#go@libera' --keep-forever
  switchboard retention alice --in '#noise@libera' --max-age 7d
  switchboard retention alice --in '#noise@libera' --inherit`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			set := 0
			for _, b := range []bool{maxAge != "", keep, inheritFlag} {
				if b {
					set++
				}
			}
			if set > 1 {
				return errors.New("--max-age, --keep-forever and --inherit: give one")
			}
			if keep && conv == "" {
				return errors.New("--keep-forever: applies to one conversation; name it with --in")
			}
			var age time.Duration
			if maxAge != "" {
				d, err := config.ParseDuration(maxAge)
				if err != nil || d <= 0 {
					return fmt.Errorf("--max-age %q: want a positive duration such as 720h or 30d", maxAge)
				}
				age = d.Std()
			}
			st, u, err := g.openForUser(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			out := cmd.OutOrStdout()
			if conv == "" {
				if set == 0 {
					fmt.Fprintf(out, "%s: %s\n", u.Name, describeRetention(u.Retention, false))
					return nil
				}
				if err := st.SetUserRetention(ctx, u.ID, age); err != nil {
					return err
				}
				fmt.Fprintf(out, "%s: %s\n", u.Name, describeRetention(age, false))
				return nil
			}
			names, err := networkNames(ctx, st, u)
			if err != nil {
				return err
			}
			id, err := findConversation(ctx, st, u, conv, 0, names)
			if err != nil {
				return err
			}
			c, err := st.Conversation(ctx, u.ID, id)
			if err != nil {
				return err
			}
			if set > 0 {
				c.Retention, c.KeepForever = age, keep
				if err := st.SetConversationRetention(ctx, u.ID, id, age, keep); err != nil {
					return err
				}
			}
			fmt.Fprintf(out, "%s@%s: %s\n", c.Remote, names[c.Network], describeRetention(c.Retention, c.KeepForever))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&conv, "in", "", "the `CONVERSATION` (#chan or nick, optionally @network) instead of the whole user")
	fl.StringVar(&maxAge, "max-age", "", "keep messages this long (e.g. 720h, 365d)")
	fl.BoolVar(&keep, "keep-forever", false, "never prune this conversation")
	fl.BoolVar(&inheritFlag, "inherit", false, "remove the setting: the user's (or the configuration's) applies")
	return cmd
}

func describeRetention(d time.Duration, keepForever bool) string {
	switch {
	case keepForever:
		return "kept forever"
	case d == 0:
		return "inherits the retention above it"
	}
	return "messages kept " + config.Duration(d).String()
}
