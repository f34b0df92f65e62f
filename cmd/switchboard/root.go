package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
	"github.com/switchboard/switchboard/internal/config"
)

// globals are the flags every command takes.
type globals struct {
	configFile string
	dataDir    string
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "switchboard",
		Short: "Switchboard keeps your chat networks connected and serves them to all your devices",
		Long: `Switchboard is a 24/7 chat bouncer: it stays connected to your IRC and XMPP
networks and to other Switchboard servers, keeps one full-text searchable
history, and serves it to every device at once over XMPP and HTTPS.

Run "switchboard serve" to start the daemon on its defaults.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "TOML configuration `FILE` (default: built-in defaults)")
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", "", "data `DIR` holding the database and TLS key pair (overrides data_dir)")
	root.AddCommand(
		newServeCommand(g),
		newUserCommand(g),
		newNetworkCommand(g),
		newSearchCommand(g),
		newExportCommand(g),
		newImportCommand(g),
		newRetentionCommand(g),
		newConfigCommand(g),
		newFedCommand(g),
		newVersionCommand(),
	)
	return root
}

// config loads the configuration file, if any, and applies --data-dir.
func (g *globals) config() (config.Config, error) {
	cfg := config.Default()
	if g.configFile != "" {
		var err error
		if cfg, err = config.Load(g.configFile); err != nil {
			return cfg, err
		}
	}
	if g.dataDir != "" {
		cfg.DataDir = g.dataDir
	}
	return cfg, nil
}

func databasePath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "switchboard.db") }

// openStore opens the database of an existing data directory; admin
// commands must not create an empty one by mistake in the wrong place.
func (g *globals) openStore(ctx context.Context) (*history.Store, config.Config, error) {
	cfg, err := g.config()
	if err != nil {
		return nil, cfg, err
	}
	path := databasePath(cfg)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, cfg, fmt.Errorf("no database at %s: run \"switchboard serve\" once, or pass --data-dir or --config", path)
		}
		return nil, cfg, err
	}
	st, err := history.Open(ctx, path, history.Options{Log: slog.New(slog.DiscardHandler)})
	return st, cfg, err
}

// openForUser opens the store and resolves the USER argument, which most
// admin commands start with. The caller closes the store.
func (g *globals) openForUser(ctx context.Context, name string) (*history.Store, core.User, error) {
	st, _, err := g.openStore(ctx)
	if err != nil {
		return nil, core.User{}, err
	}
	u, err := lookupUser(ctx, st, name)
	if err != nil {
		st.Close()
		return nil, core.User{}, err
	}
	return st, u, nil
}

// lookupUser resolves a user name argument.
func lookupUser(ctx context.Context, st *history.Store, name string) (core.User, error) {
	u, err := st.UserByName(ctx, name)
	if errors.Is(err, history.ErrNotFound) {
		return u, fmt.Errorf("USER: no user %q (see \"switchboard user list\")", name)
	}
	return u, err
}

// lookupNetwork resolves a network name argument of user.
func lookupNetwork(ctx context.Context, st *history.Store, u core.User, name string) (core.Network, error) {
	n, err := st.NetworkByName(ctx, u.ID, name)
	if errors.Is(err, history.ErrNotFound) {
		return n, fmt.Errorf("NETWORK: user %q has no network %q (see \"switchboard network list %s\")", u.Name, name, u.Name)
	}
	return n, err
}

// readPasswordStdin reads one line from standard input as a password.
func readPasswordStdin(cmd *cobra.Command) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	in := cmd.InOrStdin()
	for {
		n, err := in.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			break
		}
		if b.Len() > 1024 {
			return "", errors.New("--password-stdin: password longer than 1024 bytes")
		}
	}
	pw := strings.TrimSuffix(b.String(), "\r")
	if pw == "" {
		return "", errors.New("--password-stdin: no password on standard input")
	}
	return pw, nil
}
