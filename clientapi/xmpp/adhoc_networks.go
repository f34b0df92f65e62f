package xmpp

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/switchboard/switchboard/core"
)

// The ad-hoc commands on the user's own networks. Each checks its input
// the way the CLI does, through the same functions: network and user
// names with core's validators, settings with the check the daemon hands
// the port (Config.ValidateNetwork, the CLI's).

const nodePrefix = "switchboard:"

var cmdListNetworks = &adhocCommand{
	node: nodePrefix + "list-networks", name: "List networks",
	render: func(ctx context.Context, s *session, ex *adhocExec) (adhocOut, error) {
		nets, err := s.srv.store.Networks(ctx, s.user.ID)
		if err != nil {
			return adhocOut{}, fmt.Errorf("listing networks: %w", err)
		}
		sort.Slice(nets, func(i, j int) bool { return nets[i].Name < nets[j].Name })
		states := make(map[core.NetworkID]core.NetworkStateEvent)
		for _, st := range s.srv.hub.NetworkStates(s.user.ID) {
			states[st.Network] = st
		}
		x := dataForm("result", "Networks", "")
		x.add(el(nsDataForms, "reported").add(
			formField{Var: "name", Label: "Network"}.element(),
			formField{Var: "kind", Label: "Kind"}.element(),
			formField{Var: "address", Label: "Address"}.element(),
			formField{Var: "state", Label: "State"}.element(),
			formField{Var: "error", Label: "Last error"}.element()))
		for _, n := range nets {
			state, errText := "not running", ""
			if !n.Enabled {
				state = "disabled"
			} else if st, ok := states[n.ID]; ok {
				state, errText = string(st.State), st.Err
			}
			item := el(nsDataForms, "item")
			for _, kv := range [][2]string{{"name", n.Name}, {"kind", string(n.Kind)},
				{"address", networkDomain(n, s.srv.domain)}, {"state", state}, {"error", errText}} {
				item.add(el(nsDataForms, "field", "var", kv[0]).add(el(nsDataForms, "value").withText(kv[1])))
			}
			x.add(item)
		}
		out := adhocOut{completed: true, form: x}
		if len(nets) == 0 {
			out.notes = append(out.notes, info("You have no networks yet; add one with \"Add a network\"."))
		}
		return out, nil
	},
}

// The fields of a network's settings, by kind: the CLI's named flags of
// `network add`, the password it reads with --password-stdin, and
// "settings" for what --set reaches (any other key, KEY=VALUE a line).
func networkFields(kind core.NetworkKind, userName string) []formField {
	extra := formField{Var: "settings", Type: "text-multi", Label: "Other settings",
		Desc: "KEY=VALUE, one a line: any other setting of the network's kind, as `network set --set`"}
	pw := formField{Var: "password", Type: "text-private", Label: "Password"}
	switch kind {
	case core.KindIRC:
		pw.Label, pw.Desc = "SASL password", "NickServ account password; empty for none"
		return []formField{
			{Var: "addr", Type: "text-single", Label: "Server", Desc: "ircs://HOST[:PORT] (TLS) or irc://HOST[:PORT] (plain)", Required: true},
			{Var: "nick", Type: "text-single", Label: "Nick", Values: []string{userName}},
			{Var: "username", Type: "text-single", Label: "User name"},
			{Var: "realname", Type: "text-single", Label: "Real name"},
			{Var: "join", Type: "text-single", Label: "Channels", Desc: "comma separated, each optionally followed by a space and its key"},
			pw, extra,
		}
	case core.KindXMPP:
		pw.Required = true
		return []formField{
			{Var: "jid", Type: "jid-single", Label: "Account", Desc: "user@server", Required: true},
			pw,
			{Var: "addr", Type: "text-single", Label: "Server address", Desc: "HOST:PORT; empty: SRV lookup"},
			extra,
		}
	}
	return []formField{extra}
}

// networkKinds are the kinds a network can be added as from a client.
var networkKinds = []formOption{{"IRC", string(core.KindIRC)}, {"XMPP account", string(core.KindXMPP)}}

// settingKey finds the setting an error of the settings check names:
// the bridges say `setting "KEY": ...`.
var settingKey = regexp.MustCompile(`^setting "([^"]+)"`)

// settingsError turns the settings check's error into one naming the
// form field at fault; a key with no field of its own is in "settings".
func settingsError(err error, fields []formField) error {
	field := "settings"
	if m := settingKey.FindStringSubmatch(err.Error()); m != nil {
		key := m[1]
		for _, f := range fields {
			if f.Var == key {
				field = key
			}
		}
	}
	return badField(field, "%v", err)
}

var cmdAddNetwork = &adhocCommand{
	node: nodePrefix + "add-network", name: "Add a network",
	render: renderAddNetwork,
	submit: func(ctx context.Context, s *session, ex *adhocExec, in formValues) (adhocOut, error) {
		st, err := s.adminStore()
		if err != nil {
			return adhocOut{}, err
		}
		if ex.stage == 0 {
			name, err := required(in, "name")
			if err != nil {
				return adhocOut{}, err
			}
			if err := core.ValidateNetworkName(name); err != nil {
				return adhocOut{}, badField("name", "%v", err)
			}
			if _, err := s.networkNamed(ctx, "name", name); err == nil {
				return adhocOut{}, badField("name", "you already have a network %q", name)
			}
			kind := in.get("kind")
			if kind != string(core.KindIRC) && kind != string(core.KindXMPP) {
				return adhocOut{}, badField("kind", "want irc or xmpp, not %q", kind)
			}
			if ex.values.get("kind") != kind {
				// Another kind's settings do not carry over.
				for _, f := range networkFields(core.NetworkKind(ex.values.get("kind")), "") {
					delete(ex.values, f.Var)
				}
			}
			ex.keep(in)
			ex.stage = 1
			return renderAddNetwork(ctx, s, ex)
		}
		name, kind := ex.values.get("name"), core.NetworkKind(ex.values.get("kind"))
		fields := networkFields(kind, s.user.Name)
		n := core.Network{User: s.user.ID, Name: name, Kind: kind, Enabled: true, Settings: core.Settings{}}
		for _, f := range fields {
			if f.Var == "settings" {
				continue
			}
			if v := in.get(f.Var); v != "" {
				n.Settings[f.Var] = v
			}
		}
		for _, line := range in["settings"] {
			for _, kv := range strings.Split(line, "\n") {
				if kv = strings.TrimSpace(kv); kv == "" {
					continue
				}
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return adhocOut{}, badField("settings", "%q: want KEY=VALUE", kv)
				}
				n.Settings[k] = v
			}
		}
		// The CLI's default too: an IRC nick is the user's name unless given.
		if n.Kind == core.KindIRC && n.Settings["nick"] == "" {
			n.Settings["nick"] = s.user.Name
		}
		if s.srv.validate != nil {
			if err := s.srv.validate(n.Kind, n.Settings); err != nil {
				return adhocOut{}, settingsError(err, fields)
			}
		}
		if _, err := s.networkNamed(ctx, "name", name); err == nil {
			return adhocOut{}, badField("name", "you already have a network %q", name)
		}
		n, err = st.CreateNetwork(ctx, n)
		if err != nil {
			return adhocOut{}, fmt.Errorf("adding network %q: %w", name, err)
		}
		s.reloadNetworks(ctx)
		return adhocOut{completed: true, notes: []adhocNote{info("Added the %s network %s; its address is %s.",
			n.Kind, n.Name, networkDomain(n, s.srv.domain))}}, nil
	},
}

// renderAddNetwork asks for the name and kind, then for the kind's
// settings.
func renderAddNetwork(ctx context.Context, s *session, ex *adhocExec) (adhocOut, error) {
	if ex.stage == 0 {
		return adhocOut{hasNext: true, form: ex.stageForm("Add a network", "Name the network and say what it is.",
			formField{Var: "name", Type: "text-single", Label: "Name", Required: true,
				Desc: "lowercase letters, digits and -; it becomes the network's address, NAME." + s.srv.domain},
			formField{Var: "kind", Type: "list-single", Label: "Kind", Required: true, Options: networkKinds})}, nil
	}
	kind := core.NetworkKind(ex.values.get("kind"))
	return adhocOut{hasPrev: true, form: ex.stageForm("Add a network: "+ex.values.get("name"), "The network's settings.",
		networkFields(kind, s.user.Name)...)}, nil

}

var cmdRemoveNetwork = &adhocCommand{
	node: nodePrefix + "remove-network", name: "Remove a network",
	render: func(ctx context.Context, s *session, ex *adhocExec) (adhocOut, error) {
		opts, err := s.networkOptions(ctx, "")
		if err != nil {
			return adhocOut{}, err
		}
		return adhocOut{form: ex.stageForm("Remove a network", "The network is disconnected and removed with its conversations and history.",
			formField{Var: "network", Type: "list-single", Label: "Network", Required: true, Options: opts},
			formField{Var: "delete-history", Type: "boolean", Label: "Delete its history too",
				Desc: "needed when the network has history (the CLI's --yes)"})}, nil
	},
	submit: func(ctx context.Context, s *session, ex *adhocExec, in formValues) (adhocOut, error) {
		st, err := s.adminStore()
		if err != nil {
			return adhocOut{}, err
		}
		n, err := s.networkNamed(ctx, "network", in.get("network"))
		if err != nil {
			return adhocOut{}, err
		}
		yes, ok := in.boolean("delete-history")
		if !ok {
			return adhocOut{}, badField("delete-history", "want true or false")
		}
		convs, err := s.srv.store.Conversations(ctx, s.user.ID)
		if err != nil {
			return adhocOut{}, fmt.Errorf("listing conversations: %w", err)
		}
		for _, c := range convs {
			if c.Network == n.ID && !yes {
				return adhocOut{}, badField("delete-history", "network %q has history; tick it to delete the history with the network", n.Name)
			}
		}
		if err := st.DeleteNetwork(ctx, s.user.ID, n.ID); err != nil {
			return adhocOut{}, fmt.Errorf("removing network %q: %w", n.Name, err)
		}
		s.reloadNetworks(ctx)
		return adhocOut{completed: true, notes: []adhocNote{info("Removed the network %s.", n.Name)}}, nil
	},
}

var cmdJoinChannel = &adhocCommand{
	node: nodePrefix + "join-channel", name: "Join a channel",
	render: func(ctx context.Context, s *session, ex *adhocExec) (adhocOut, error) {
		opts, err := s.networkOptions(ctx, core.KindIRC)
		if err != nil {
			return adhocOut{}, err
		}
		return adhocOut{form: ex.stageForm("Join a channel", "The channel is joined on the network and rejoined on every reconnect.",
			formField{Var: "network", Type: "list-single", Label: "Network", Required: true, Options: opts},
			formField{Var: "channel", Type: "text-single", Label: "Channel", Required: true, Desc: "#name"},
			formField{Var: "key", Type: "text-private", Label: "Key", Desc: "the channel's password, if it has one"})}, nil
	},
	submit: func(ctx context.Context, s *session, ex *adhocExec, in formValues) (adhocOut, error) {
		n, err := s.networkNamed(ctx, "network", in.get("network"))
		if err != nil {
			return adhocOut{}, err
		}
		if n.Kind != core.KindIRC {
			return adhocOut{}, badField("network", "%q is an %s network; channels are joined on IRC networks", n.Name, n.Kind)
		}
		channel, err := required(in, "channel")
		if err != nil {
			return adhocOut{}, err
		}
		// The bridge's own reading of the name says whether it is a
		// room; what it cannot carry in a JOIN it refuses below.
		if s.srv.hub.ParsePeer(n.Kind, channel).Kind != core.Room || strings.ContainsAny(channel, " ,\x00\r\n") {
			return adhocOut{}, badField("channel", "%q is not a channel name (they start with #, &, + or !)", channel)
		}
		key := in.get("key")
		if strings.ContainsAny(key, " ,\x00\r\n") {
			return adhocOut{}, badField("key", "a channel key has no spaces, commas or line breaks")
		}
		j, ok := s.srv.hub.(roomJoiner)
		if !ok {
			return adhocOut{}, failure("cancel", "feature-not-implemented", "this server cannot join rooms on request")
		}
		if err := j.JoinRoom(ctx, s.user.ID, n.ID, channel, key); err != nil {
			if !n.Enabled || !s.networkRunning(n.ID) {
				return adhocOut{}, badField("network", "cannot join on %s now: %v", n.Name, err)
			}
			return adhocOut{}, badField("channel", "%v", err)
		}
		room := peerJID(n, s.srv.hub.ParsePeer(n.Kind, channel).Remote, s.srv.domain)
		return adhocOut{completed: true, notes: []adhocNote{info("Joined %s on %s; the room is %s.", channel, n.Name, room)}}, nil
	},
}

// networkRunning reports whether the Hub runs a bridge for the network.
func (s *session) networkRunning(id core.NetworkID) bool {
	for _, st := range s.srv.hub.NetworkStates(s.user.ID) {
		if st.Network == id {
			return true
		}
	}
	return false
}

var showOptions = []formOption{
	{"Available", "available"}, {"Free to chat", "chat"}, {"Away", "away"},
	{"Extended away", "xa"}, {"Do not disturb", "dnd"},
}

var cmdSetStatus = &adhocCommand{
	node: nodePrefix + "set-status", name: "Set status on all networks",
	render: func(ctx context.Context, s *session, ex *adhocExec) (adhocOut, error) {
		return adhocOut{form: ex.stageForm("Set status", "Your status on every network (IRC away, XMPP presence).",
			formField{Var: "show", Type: "list-single", Label: "Status", Required: true, Values: []string{"available"}, Options: showOptions},
			formField{Var: "text", Type: "text-single", Label: "Message"})}, nil
	},
	submit: func(ctx context.Context, s *session, ex *adhocExec, in formValues) (adhocOut, error) {
		show, ok := map[string]core.Show{"available": core.ShowAvailable, "chat": core.ShowChat, "away": core.ShowAway,
			"xa": core.ShowXA, "dnd": core.ShowDND}[in.get("show")]
		if !ok {
			return adhocOut{}, badField("show", "want available, chat, away, xa or dnd, not %q", in.get("show"))
		}
		text := in.get("text")
		if len(in["text"]) > 1 || strings.ContainsAny(text, "\r\n\x00") {
			return adhocOut{}, badField("text", "one line, please")
		}
		// The Hub combines every device's status into the user's, the
		// most available one winning; this sets this device's.
		if err := s.srv.hub.SetStatus(ctx, s.hs, core.Status{Show: show, Text: text}); err != nil {
			return adhocOut{}, fmt.Errorf("setting status: %w", err)
		}
		return adhocOut{completed: true, notes: []adhocNote{info("Status set to %s on all networks.", in.get("show"))}}, nil
	},
}
