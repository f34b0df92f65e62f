package main

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
)

// networkFlags are the settings a network command can set. Each named flag
// is one settings key; --set reaches every other key a bridge documents.
type networkFlags struct {
	kind     string
	addr     string
	nick     string
	username string
	realname string
	join     string
	jid      string
	set      []string
	unset    []string
	stdin    bool
	enable   bool
	disable  bool
}

func (f *networkFlags) register(cmd *cobra.Command, adding bool) {
	fl := cmd.Flags()
	if adding {
		fl.StringVar(&f.kind, "kind", "", "network kind: irc, xmpp or fed (required)")
	}
	fl.StringVar(&f.addr, "addr", "", "server address: irc://HOST[:PORT] (plain) or ircs://HOST[:PORT] (TLS) for IRC; HOST:PORT for XMPP (default: SRV lookup)")
	fl.StringVar(&f.nick, "nick", "", "IRC nick (default: the user name)")
	fl.StringVar(&f.username, "username", "", "IRC user name")
	fl.StringVar(&f.realname, "realname", "", "IRC real name")
	fl.StringVar(&f.join, "join", "", "IRC channels to join, comma separated, each optionally followed by a space and its key")
	fl.StringVar(&f.jid, "jid", "", "XMPP account address (user@server)")
	fl.StringArrayVar(&f.set, "set", nil, "set any `KEY=VALUE` setting (repeatable)")
	fl.BoolVar(&f.stdin, "password-stdin", false, "read the network password (IRC SASL, XMPP account) from standard input")
	if !adding {
		fl.StringArrayVar(&f.unset, "unset", nil, "remove the setting `KEY` (repeatable)")
		fl.BoolVar(&f.enable, "enable", false, "connect the network")
		fl.BoolVar(&f.disable, "disable", false, "disconnect the network and keep its history")
	}
}

// apply writes the flags that were given into settings.
func (f *networkFlags) apply(cmd *cobra.Command, settings core.Settings) error {
	named := map[string]*string{"addr": &f.addr, "nick": &f.nick, "username": &f.username,
		"realname": &f.realname, "join": &f.join, "jid": &f.jid}
	for key, v := range named {
		if cmd.Flags().Changed(key) {
			settings[key] = *v
		}
	}
	for _, kv := range f.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--set %q: want KEY=VALUE", kv)
		}
		settings[k] = v
	}
	for _, k := range f.unset {
		if _, ok := settings[k]; !ok {
			return fmt.Errorf("--unset %q: the network has no such setting", k)
		}
		delete(settings, k)
	}
	if f.stdin {
		pw, err := readPasswordStdin(cmd)
		if err != nil {
			return err
		}
		settings["password"] = pw
	}
	return nil
}

// validateSettings checks a network's settings: the kinds without a bridge
// in this build here, the others through their core.BridgeKind.
func validateSettings(kind core.NetworkKind, s core.Settings) error {
	switch kind {
	case core.KindIRC:
		// The bridge owns its settings; see bridges/irc/settings.go.
	case core.KindXMPP:
		// The bridge owns its settings; see bridges/xmpp/settings.go.
	case core.KindFed:
	default:
		return fmt.Errorf("--kind %q: want irc, xmpp or fed", kind)
	}
	if k, ok := bridgeRegistry(nil).Lookup(kind); ok && k.ValidateSettings != nil {
		return k.ValidateSettings(s)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newNetworkCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage a user's networks"}
	cmd.AddCommand(newNetworkAddCommand(g), newNetworkListCommand(g), newNetworkDelCommand(g), newNetworkSetCommand(g))
	return cmd
}

func newNetworkAddCommand(g *globals) *cobra.Command {
	f := &networkFlags{}
	cmd := &cobra.Command{
		Use:   "add USER NAME",
		Short: "Add a network; NAME becomes its sub-domain on the client port (#go@NAME.DOMAIN)",
		Example: `  switchboard network add alice libera --kind irc --addr ircs://irc.libera.chat:6697 --nick alice --join '#go,#xmpp'
  echo "$PASSWORD" | switchboard network add alice work --kind xmpp --jid me@example.net --password-stdin`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := core.ValidateNetworkName(args[1]); err != nil {
				return fmt.Errorf("NAME: %w", err)
			}
			if f.kind == "" {
				return errors.New("--kind: required (irc, xmpp or fed)")
			}
			st, u, err := g.openForUser(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			n := core.Network{User: u.ID, Name: args[1], Kind: core.NetworkKind(f.kind), Enabled: true, Settings: core.Settings{}}
			if err := f.apply(cmd, n.Settings); err != nil {
				return err
			}
			if n.Kind == core.KindIRC && n.Settings["nick"] == "" {
				n.Settings["nick"] = u.Name
			}
			if err := validateSettings(n.Kind, n.Settings); err != nil {
				return err
			}
			n, err = st.CreateNetwork(ctx, n)
			if errors.Is(err, history.ErrExists) {
				return fmt.Errorf("NAME: user %q already has a network %q", u.Name, args[1])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s network %s for %s\n", n.Kind, n.Name, u.Name)
			return nil
		},
	}
	f.register(cmd, true)
	return cmd
}

func newNetworkListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list USER",
		Short: "List a user's networks (passwords are not shown)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, u, err := g.openForUser(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			nets, err := st.Networks(ctx, u.ID)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NETWORK\tKIND\tENABLED\tSETTINGS")
			for _, n := range nets {
				fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", n.Name, n.Kind, n.Enabled, describeSettings(n.Settings))
			}
			return w.Flush()
		},
	}
}

// describeSettings prints settings in key order with secrets masked.
func describeSettings(s core.Settings) string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := s[k]
		if core.SecretSettingKeys[k] {
			v = "(set)"
		}
		parts[i] = k + "=" + strconv.Quote(v)
	}
	return strings.Join(parts, " ")
}

func newNetworkDelCommand(g *globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "del USER NAME",
		Short: "Remove a network with its conversations and history",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, u, err := g.openForUser(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := lookupNetwork(ctx, st, u, args[1])
			if err != nil {
				return err
			}
			convs, err := st.Conversations(ctx, u.ID)
			if err != nil {
				return err
			}
			for _, c := range convs {
				if c.Network == n.ID && !yes {
					return fmt.Errorf("network %q has history; pass --yes to delete it with the network, or use \"network set --disable\" to keep it", n.Name)
				}
			}
			if err := st.DeleteNetwork(ctx, u.ID, n.ID); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed network %s of %s\n", n.Name, u.Name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "delete even if the network has history")
	return cmd
}

func newNetworkSetCommand(g *globals) *cobra.Command {
	f := &networkFlags{}
	cmd := &cobra.Command{
		Use:     "set USER NAME",
		Short:   "Change a network's settings; a running daemon reconnects it",
		Example: `  switchboard network set alice libera --nick alice_ --join '#go,#go-nuts' --unset realname`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if f.enable && f.disable {
				return errors.New("--enable and --disable: give one or the other")
			}
			st, u, err := g.openForUser(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := lookupNetwork(ctx, st, u, args[1])
			if err != nil {
				return err
			}
			if err := f.apply(cmd, n.Settings); err != nil {
				return err
			}
			if err := validateSettings(n.Kind, n.Settings); err != nil {
				return err
			}
			if f.enable {
				n.Enabled = true
			}
			if f.disable {
				n.Enabled = false
			}
			if err := st.UpdateNetwork(ctx, n); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "updated network %s of %s: enabled=%v %s\n", n.Name, u.Name, n.Enabled, describeSettings(n.Settings))
			return nil
		},
	}
	f.register(cmd, false)
	return cmd
}
