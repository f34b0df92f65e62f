package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
	"github.com/switchboard/switchboard/internal/config"
)

func newSearchCommand(g *globals) *cobra.Command {
	var (
		in, network, from, since, until string
		asJSON, relevance               bool
		limit                           int
	)
	cmd := &cobra.Command{
		Use:   "search USER QUERY",
		Short: "Search a user's history",
		Long: `Search a user's history across all networks. QUERY takes words (all must
match), "quoted phrases", prefix*, OR, NOT or -word, and parentheses.`,
		Example: `  switchboard search alice 'deploy "build failed"' --network libera --since 7d
  switchboard search alice 'gc OR "garbage collector"' --in '#go@libera' --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			now := time.Now()
			q := core.SearchQuery{Text: args[1], Sender: from, Limit: limit}
			if relevance {
				q.Ranking = core.ByRelevance
			}
			var err error
			if q.Since, err = parseWhen("--since", since, now); err != nil {
				return err
			}
			if q.Until, err = parseWhen("--until", until, now); err != nil {
				return err
			}
			if limit < 1 || limit > core.MaxPageLimit {
				return fmt.Errorf("--limit %d: must be 1 to %d", limit, core.MaxPageLimit)
			}
			st, u, err := g.openForUser(ctx, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			q.User = u.ID
			names, err := networkNames(ctx, st, u)
			if err != nil {
				return err
			}
			if network != "" {
				n, err := lookupNetwork(ctx, st, u, network)
				if err != nil {
					return fmt.Errorf("--network: %w", err)
				}
				q.Network = n.ID
			}
			if in != "" {
				if q.Conversation, err = findConversation(ctx, st, u, in, q.Network, names); err != nil {
					return err
				}
			}
			results, err := st.Search(ctx, q)
			if err != nil {
				return fmt.Errorf("QUERY: %w", err)
			}
			if asJSON {
				return printResultsJSON(cmd, results, names)
			}
			for _, r := range results {
				m := r.Message
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %s@%s  <%s>  %s  [%s]\n",
					m.Time.Local().Format("2006-01-02 15:04"), m.Peer.Remote, names[m.Network],
					m.Sender.Addr, markHighlights(r.Snippet, r.Highlights), m.ID)
			}
			if len(results) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no messages match")
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&in, "in", "", "only in the `CONVERSATION` (#chan or nick, optionally @network)")
	fl.StringVar(&network, "network", "", "only on the `NETWORK`")
	fl.StringVar(&from, "from", "", "only messages from `SENDER` (address or display name)")
	fl.StringVar(&since, "since", "", "only messages at or after `T` (RFC 3339, YYYY-MM-DD, or an age such as 36h or 7d)")
	fl.StringVar(&until, "until", "", "only messages before `T` (same forms as --since)")
	fl.BoolVar(&asJSON, "json", false, "print results as JSON")
	fl.BoolVar(&relevance, "relevance", false, "order by relevance instead of newest first")
	fl.IntVar(&limit, "limit", 50, "at most `N` results")
	return cmd
}

// parseWhen reads a time flag: RFC 3339, a date, or an age before now.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", v, time.Local); err == nil {
		return t, nil
	}
	if d, err := config.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d.Std()), nil
	}
	return time.Time{}, fmt.Errorf("%s %q: want RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02) or an age (36h, 7d)", flag, v)
}

func networkNames(ctx context.Context, st *history.Store, u core.User) (map[core.NetworkID]string, error) {
	nets, err := st.Networks(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	names := make(map[core.NetworkID]string, len(nets))
	for _, n := range nets {
		names[n.ID] = n.Name
	}
	return names, nil
}

// findConversation resolves --in: "#go", "#go@libera" or a nick.
func findConversation(ctx context.Context, st *history.Store, u core.User, in string, network core.NetworkID, names map[core.NetworkID]string) (core.ConversationID, error) {
	// The network is after the last "@": XMPP remotes have one of their own.
	remote, netName, hasNet := in, "", false
	if i := strings.LastIndex(in, "@"); i >= 0 {
		remote, netName, hasNet = in[:i], in[i+1:], true
	}
	convs, err := st.Conversations(ctx, u.ID)
	if err != nil {
		return 0, err
	}
	var found []core.Conversation
	for _, c := range convs {
		if !strings.EqualFold(c.Remote, remote) && !strings.EqualFold(c.Remote, in) {
			continue
		}
		if hasNet && !strings.EqualFold(c.Remote, in) && !strings.EqualFold(names[c.Network], netName) {
			continue
		}
		if network != 0 && c.Network != network {
			continue
		}
		found = append(found, c)
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("--in %q: %s has no such conversation", in, u.Name)
	case 1:
		return found[0].ID, nil
	}
	var alts []string
	for _, c := range found {
		alts = append(alts, c.Remote+"@"+names[c.Network])
	}
	return 0, fmt.Errorf("--in %q: ambiguous, name the network: %s", in, strings.Join(alts, ", "))
}

// markHighlights shows the matched words in *bold* (XEP-0393 style).
func markHighlights(s string, hs []core.Span) string {
	var b strings.Builder
	last := 0
	for _, h := range hs {
		if h.Start < last || h.End > len(s) {
			continue
		}
		b.WriteString(s[last:h.Start])
		b.WriteString("*" + s[h.Start:h.End] + "*")
		last = h.End
	}
	b.WriteString(s[last:])
	return b.String()
}

// searchResultJSON is the --json form of one result.
type searchResultJSON struct {
	ID           string    `json:"id"`
	Network      string    `json:"network"`
	Conversation string    `json:"conversation"`
	Time         time.Time `json:"time"`
	Sender       string    `json:"sender"`
	SenderName   string    `json:"sender_name,omitempty"`
	Body         string    `json:"body"`
	Snippet      string    `json:"snippet"`
	Highlights   [][2]int  `json:"highlights"`
	Kind         string    `json:"kind"`
}

func printResultsJSON(cmd *cobra.Command, results []core.SearchResult, names map[core.NetworkID]string) error {
	out := make([]searchResultJSON, 0, len(results))
	for _, r := range results {
		m := r.Message
		j := searchResultJSON{ID: m.ID.String(), Network: names[m.Network], Conversation: m.Peer.Remote,
			Time: m.Time, Sender: m.Sender.Addr, SenderName: m.Sender.Name, Body: m.Body,
			Snippet: r.Snippet, Highlights: [][2]int{}, Kind: string(m.Kind)}
		for _, h := range r.Highlights {
			j.Highlights = append(j.Highlights, [2]int{h.Start, h.End})
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}
