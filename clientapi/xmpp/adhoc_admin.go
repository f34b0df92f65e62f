package xmpp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/core"
)

// The search command, and the administrators' user management. Who is an
// administrator is the users table's admin flag (history/users.go): set
// by `user add --admin`, and on the first user, "admin", that `serve`
// creates on a fresh database.

const searchMaxResults = 100

var cmdSearch = &adhocCommand{
	node: nodePrefix + "search", name: "Search history",
	render: func(ctx context.Context, s *session, ex *adhocExec) (adhocOut, error) {
		opts, err := s.networkOptions(ctx, "")
		if err != nil {
			return adhocOut{}, err
		}
		return adhocOut{form: ex.stageForm("Search history", "Words, \"phrases\", prefix*, AND/OR/NOT, -word.",
			formField{Var: "text", Type: "text-single", Label: "Search for", Required: true},
			formField{Var: "network", Type: "list-single", Label: "Network", Desc: "empty: all", Options: opts},
			formField{Var: "with", Type: "jid-single", Label: "Conversation", Desc: "a contact or room address; empty: all"},
			formField{Var: "sender", Type: "text-single", Label: "From", Desc: "a sender's nick or address"},
			formField{Var: "start", Type: "text-single", Label: "Since", Desc: "YYYY-MM-DDThh:mm:ssZ"},
			formField{Var: "end", Type: "text-single", Label: "Until", Desc: "YYYY-MM-DDThh:mm:ssZ"},
			formField{Var: "max", Type: "text-single", Label: "At most", Values: []string{"20"}, Desc: "1 to " + strconv.Itoa(searchMaxResults)})}, nil
	},
	submit: func(ctx context.Context, s *session, ex *adhocExec, in formValues) (adhocOut, error) {
		q := core.SearchQuery{User: s.user.ID, Ranking: core.ByTime, Limit: 20, Sender: in.get("sender")}
		var err error
		if q.Text, err = required(in, "text"); err != nil {
			return adhocOut{}, err
		}
		if v := in.get("network"); v != "" {
			n, err := s.networkNamed(ctx, "network", v)
			if err != nil {
				return adhocOut{}, err
			}
			q.Network = n.ID
		}
		if with := in.get("with"); with != "" {
			c, ok := s.conversationAt(ctx, with)
			if !ok {
				return adhocOut{}, badField("with", "%q is none of your conversations", with)
			}
			q.Conversation = c
		}
		for _, f := range []struct {
			name string
			t    *time.Time
		}{{"start", &q.Since}, {"end", &q.Until}} {
			if v := in.get(f.name); v != "" {
				if *f.t, err = time.Parse(time.RFC3339, v); err != nil {
					return adhocOut{}, badField(f.name, "%q: want a date and time such as 2024-05-01T12:00:00Z", v)
				}
			}
		}
		if v := in.get("max"); v != "" {
			if q.Limit, err = strconv.Atoi(v); err != nil || q.Limit < 1 || q.Limit > searchMaxResults {
				return adhocOut{}, badField("max", "want a number from 1 to %d", searchMaxResults)
			}
		}
		results, err := s.srv.store.Search(ctx, q)
		if err != nil {
			// The archive's reading of a query the grammar rejects (mam.go).
			var f *stanzaFailure
			if err := searchFailure(err); errors.As(err, &f) {
				return adhocOut{}, badField("text", "%s", strings.TrimPrefix(f.text, "fulltext: "))
			}
			return adhocOut{}, fmt.Errorf("searching: %w", err)
		}
		return adhocOut{completed: true, form: s.searchResults(ctx, results),
			notes: []adhocNote{info("%d messages found.", len(results))}}, nil
	},
}

// searchResults is the result form: one item per message, with the
// message's archive id (the MAM and stanza id) to find it by.
func (s *session) searchResults(ctx context.Context, results []core.SearchResult) *element {
	x := dataForm("result", "Search results", "")
	x.add(el(nsDataForms, "reported").add(
		formField{Var: "id", Label: "Message id"}.element(),
		formField{Var: "time", Label: "Time"}.element(),
		formField{Var: "with", Label: "Conversation", Type: "jid-single"}.element(),
		formField{Var: "from", Label: "From"}.element(),
		formField{Var: "text", Label: "Text"}.element()))
	for _, r := range results {
		m := r.Message
		with := ""
		if nw, ok := s.nets.get(ctx, m.Network); ok {
			with = peerJID(nw, m.Peer.Remote, s.srv.domain)
		}
		from := m.Sender.Name
		if from == "" {
			from = m.Sender.Addr
		}
		if m.Direction == core.Outgoing {
			from = s.user.Name
		}
		text := r.Snippet
		if text == "" {
			text = m.Body
		}
		item := el(nsDataForms, "item")
		for _, kv := range [][2]string{{"id", m.ID.String()}, {"time", stamp(m.Time)}, {"with", with}, {"from", from}, {"text", text}} {
			item.add(el(nsDataForms, "field", "var", kv[0]).add(el(nsDataForms, "value").withText(kv[1])))
		}
		x.add(item)
	}
	return x
}

// conversationAt finds the user's conversation with a contact or room
// address of the port.
func (s *session) conversationAt(ctx context.Context, addr string) (core.ConversationID, bool) {
	r, ok := s.nets.resolve(ctx, addr, s.srv.domain)
	if !ok {
		return 0, false
	}
	convs, err := s.srv.store.Conversations(ctx, s.user.ID)
	if err != nil {
		return 0, false
	}
	for _, c := range convs {
		if c.Network == r.network.ID && c.Remote == r.peer.Remote {
			return c.ID, true
		}
	}
	return 0, false
}

// userOptions lists every account, for the administrators' forms.
// userField is the list of the server's users to pick one from.
func (s *session) userField(ctx context.Context) (formField, error) {
	st, err := s.adminStore()
	if err != nil {
		return formField{}, err
	}
	users, err := st.Users(ctx)
	if err != nil {
		return formField{}, fmt.Errorf("listing users: %w", err)
	}
	opts := make([]formOption, len(users))
	for i, u := range users {
		opts[i] = formOption{u.Name, u.Name}
	}
	return formField{Var: "user", Type: "list-single", Label: "User", Required: true, Options: opts}, nil
}

// userNamed finds an account, as a field error when there is none.
func userNamed(ctx context.Context, st adminStore, field, name string) (core.User, error) {
	if name == "" {
		return core.User{}, badField(field, "required")
	}
	// By listing: a store's not-found error is its own, and a server has
	// few users.
	users, err := st.Users(ctx)
	if err != nil {
		return core.User{}, fmt.Errorf("listing users: %w", err)
	}
	for _, u := range users {
		if u.Name == name {
			return u, nil
		}
	}
	return core.User{}, badField(field, "there is no user %q", name)
}

// passwordResult completes a command that set a password; one the server
// generated is shown once, as the CLI prints it.
func passwordResult(note string, pw string, generated bool) adhocOut {
	out := adhocOut{completed: true, notes: []adhocNote{info("%s", note)}}
	if generated {
		out.form = dataForm("result", "New password", "Shown only this once.",
			formField{Var: "password", Type: "text-single", Label: "Password", Values: []string{pw}})
	}
	return out
}

var passwordField = formField{Var: "password", Type: "text-private", Label: "Password", Desc: "empty: generate one and show it"}

var cmdAddUser = &adhocCommand{
	node: nodePrefix + "add-user", name: "Add a user", admin: true,
	render: func(ctx context.Context, s *session, ex *adhocExec) (adhocOut, error) {
		return adhocOut{form: ex.stageForm("Add a user", "",
			formField{Var: "name", Type: "text-single", Label: "User name", Required: true, Desc: "they log in as NAME@" + s.srv.domain},
			passwordField,
			formField{Var: "admin", Type: "boolean", Label: "Administrator"})}, nil
	},
	submit: func(ctx context.Context, s *session, ex *adhocExec, in formValues) (adhocOut, error) {
		st, err := s.adminStore()
		if err != nil {
			return adhocOut{}, err
		}
		name, err := required(in, "name")
		if err != nil {
			return adhocOut{}, err
		}
		if err := core.ValidateUserName(name); err != nil {
			return adhocOut{}, badField("name", "%v", err)
		}
		admin, ok := in.boolean("admin")
		if !ok {
			return adhocOut{}, badField("admin", "want true or false")
		}
		if _, err := userNamed(ctx, st, "name", name); err == nil {
			return adhocOut{}, badField("name", "user %q already exists", name)
		}
		pw, generated := in.get("password"), false
		if pw == "" {
			pw, generated = core.GeneratePassword(), true
		}
		u, err := st.CreateUser(ctx, name, pw, admin)
		if err != nil {
			return adhocOut{}, fmt.Errorf("creating user %q: %w", name, err)
		}
		return passwordResult(fmt.Sprintf("Created the user %s@%s.", u.Name, s.srv.domain), pw, generated), nil
	},
}

var cmdRemoveUser = &adhocCommand{
	node: nodePrefix + "remove-user", name: "Remove a user", admin: true,
	render: func(ctx context.Context, s *session, ex *adhocExec) (adhocOut, error) {
		user, err := s.userField(ctx)
		if err != nil {
			return adhocOut{}, err
		}
		return adhocOut{form: ex.stageForm("Remove a user", "The user is removed with their networks and history.",
			user,
			formField{Var: "delete-history", Type: "boolean", Label: "Delete their history too",
				Desc: "needed when the user has messages (the CLI's --yes)"})}, nil
	},
	submit: func(ctx context.Context, s *session, ex *adhocExec, in formValues) (adhocOut, error) {
		st, err := s.adminStore()
		if err != nil {
			return adhocOut{}, err
		}
		u, err := userNamed(ctx, st, "user", in.get("user"))
		if err != nil {
			return adhocOut{}, err
		}
		if u.ID == s.user.ID {
			return adhocOut{}, badField("user", "you cannot remove your own account from one of its sessions")
		}
		yes, ok := in.boolean("delete-history")
		if !ok {
			return adhocOut{}, badField("delete-history", "want true or false")
		}
		n, err := st.CountMessages(ctx, u.ID)
		if err != nil {
			return adhocOut{}, fmt.Errorf("counting messages: %w", err)
		}
		if n > 0 && !yes {
			return adhocOut{}, badField("delete-history", "user %q has %d messages; tick it to delete them with the user", u.Name, n)
		}
		if err := st.DeleteUser(ctx, u.ID); err != nil {
			return adhocOut{}, fmt.Errorf("deleting user %q: %w", u.Name, err)
		}
		// Their devices are logged out and their bridges stopped.
		for _, other := range s.srv.userSessions(u.ID) {
			other.endWith(&streamError{condition: "not-authorized", text: "this account was removed"})
		}
		if h, ok := s.srv.hub.(networkSyncer); ok {
			if err := h.SyncNetworks(ctx); err != nil {
				s.log.Warn("stopping a removed user's networks", "err", err)
			}
		}
		return adhocOut{completed: true, notes: []adhocNote{info("Removed the user %s and %d messages.", u.Name, n)}}, nil
	},
}

var cmdChangePassword = &adhocCommand{
	node: nodePrefix + "change-password", name: "Change a user's password", admin: true,
	render: func(ctx context.Context, s *session, ex *adhocExec) (adhocOut, error) {
		user, err := s.userField(ctx)
		if err != nil {
			return adhocOut{}, err
		}
		return adhocOut{form: ex.stageForm("Change a password", "",
			user,
			passwordField)}, nil
	},
	submit: func(ctx context.Context, s *session, ex *adhocExec, in formValues) (adhocOut, error) {
		st, err := s.adminStore()
		if err != nil {
			return adhocOut{}, err
		}
		u, err := userNamed(ctx, st, "user", in.get("user"))
		if err != nil {
			return adhocOut{}, err
		}
		pw, generated := in.get("password"), false
		if pw == "" {
			pw, generated = core.GeneratePassword(), true
		}
		if err := st.SetPassword(ctx, u.ID, pw); err != nil {
			return adhocOut{}, fmt.Errorf("setting the password of %q: %w", u.Name, err)
		}
		return passwordResult(fmt.Sprintf("Changed the password of %s.", u.Name), pw, generated), nil
	},
}
