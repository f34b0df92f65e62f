package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
)

func newUserCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage user accounts"}
	cmd.AddCommand(newUserAddCommand(g), newUserListCommand(g), newUserDelCommand(g), newUserPasswdCommand(g))
	return cmd
}

// passwordFrom reads --password-stdin or generates a password to print.
func passwordFrom(cmd *cobra.Command, fromStdin bool) (pw string, generated bool, err error) {
	if fromStdin {
		pw, err = readPasswordStdin(cmd)
		return pw, false, err
	}
	return core.GeneratePassword(), true, nil
}

func newUserAddCommand(g *globals) *cobra.Command {
	var admin, stdin bool
	cmd := &cobra.Command{
		Use:   "add USER",
		Short: "Create a user; the password is generated and printed unless given on standard input",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := core.ValidateUserName(args[0]); err != nil {
				return fmt.Errorf("USER: %w", err)
			}
			st, cfg, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			pw, generated, err := passwordFrom(cmd, stdin)
			if err != nil {
				return err
			}
			u, err := st.CreateUser(cmd.Context(), args[0], pw, admin)
			if errors.Is(err, history.ErrExists) {
				return fmt.Errorf("USER: user %q already exists", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created user %s@%s\n", u.Name, cfg.Domain)
			if generated {
				fmt.Fprintf(cmd.OutOrStdout(), "password: %s\n", pw)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&admin, "admin", false, "make the user an administrator")
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from standard input instead of generating one")
	return cmd
}

func newUserListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, _, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			users, err := st.Users(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "USER\tADMIN\tRETENTION\tCREATED")
			for _, u := range users {
				retention := "forever"
				if u.Retention > 0 {
					retention = u.Retention.String()
				}
				fmt.Fprintf(w, "%s\t%v\t%s\t%s\n", u.Name, u.Admin, retention, u.Created.Format("2006-01-02 15:04"))
			}
			return w.Flush()
		},
	}
}

func newUserDelCommand(g *globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "del USER",
		Short: "Delete a user with their networks and history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, u, err := g.openForUser(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := st.CountMessages(ctx, u.ID)
			if err != nil {
				return err
			}
			if n > 0 && !yes {
				return fmt.Errorf("user %q has %d messages; pass --yes to delete them with the user", u.Name, n)
			}
			if err := st.DeleteUser(ctx, u.ID); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted user %s and %d messages\n", u.Name, n)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "delete even if the user has history")
	return cmd
}

func newUserPasswdCommand(g *globals) *cobra.Command {
	var stdin bool
	cmd := &cobra.Command{
		Use:   "passwd USER",
		Short: "Set a user's password; it is generated and printed unless given on standard input",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, u, err := g.openForUser(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			pw, generated, err := passwordFrom(cmd, stdin)
			if err != nil {
				return err
			}
			if err := st.SetPassword(ctx, u.ID, pw); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed\n", u.Name)
			if generated {
				fmt.Fprintf(cmd.OutOrStdout(), "password: %s\n", pw)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from standard input instead of generating one")
	return cmd
}
