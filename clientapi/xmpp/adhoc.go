package xmpp

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Ad-hoc commands (XEP-0050) on the server address: the daemon run from
// any client with a commands menu. A command is a few stages, each a data
// form; an execution keeps what earlier stages submitted under a session
// id that only the device that started it may use. A field the command
// cannot accept shows the same stage again, filled in as submitted, with
// a note of type error that names the field, so the user can mend it.

const nsCommands = "http://jabber.org/protocol/commands"

const (
	// adhocTTL is how long an execution waits for its next stage.
	adhocTTL = 10 * time.Minute
	// adhocPerUser bounds the executions one user may leave open.
	adhocPerUser = 16
	// adhocTimeout bounds one stage's work (a join waits for the network).
	adhocTimeout = 30 * time.Second
)

// adhocCommand is one command. render shows the execution's current
// stage (or completes at once, for a command that asks nothing); submit
// takes that stage's form and either moves to the next stage, returning
// render's answer, or completes.
type adhocCommand struct {
	node, name string
	admin      bool
	render     func(ctx context.Context, s *session, ex *adhocExec) (adhocOut, error)
	submit     func(ctx context.Context, s *session, ex *adhocExec, in formValues) (adhocOut, error)
}

// adhocExec is one execution of a command.
type adhocExec struct {
	id, node, owner string // owner: the full JID that started it
	user            core.UserID
	stage           int
	// values are what the stages submitted so far, by field; a stage
	// shown again is filled in from them.
	values  formValues
	expires time.Time
}

// adhocOut is a stage's answer.
type adhocOut struct {
	completed bool
	form      *element // a form to fill in, or a result form
	notes     []adhocNote
	// hasPrev and hasNext say which actions the stage offers; a stage
	// with neither completes on submission.
	hasPrev, hasNext bool
}

type adhocNote struct{ typ, text string }

func info(format string, args ...any) adhocNote {
	return adhocNote{"info", fmt.Sprintf(format, args...)}
}

// fieldError is a submitted value the command refuses: the stage is shown
// again with a note naming the field.
type fieldError struct{ field, text string }

func (e *fieldError) Error() string { return e.field + ": " + e.text }

func badField(field, format string, args ...any) error {
	return &fieldError{field, fmt.Sprintf(format, args...)}
}

// adhocSessions holds the open executions of every user; its zero value
// is ready.
type adhocSessions struct {
	mu   sync.Mutex
	byID map[string]*adhocExec
}

func (a *adhocSessions) start(ex *adhocExec, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byID == nil {
		a.byID = make(map[string]*adhocExec)
	}
	n := 0
	for id, other := range a.byID {
		switch {
		case now.After(other.expires):
			delete(a.byID, id)
		case other.user == ex.user:
			n++
		}
	}
	if n >= adhocPerUser {
		return failure("wait", "resource-constraint", "too many commands are in progress; finish or cancel one")
	}
	a.byID[ex.id] = ex
	return nil
}

// get returns the execution id of owner running node.
func (a *adhocSessions) get(id, owner, node string, now time.Time) *adhocExec {
	a.mu.Lock()
	defer a.mu.Unlock()
	ex := a.byID[id]
	if ex == nil || ex.owner != owner || ex.node != node {
		return nil
	}
	if now.After(ex.expires) {
		delete(a.byID, id)
		return nil
	}
	ex.expires = now.Add(adhocTTL)
	return ex
}

func (a *adhocSessions) end(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.byID, id)
}

// adhocCommands lists the commands in menu order.
func adhocCommands() []*adhocCommand {
	return []*adhocCommand{
		cmdListNetworks, cmdAddNetwork, cmdRemoveNetwork, cmdJoinChannel, cmdSetStatus, cmdSearch,
		cmdAddUser, cmdRemoveUser, cmdChangePassword,
	}
}

func findCommand(node string) *adhocCommand {
	for _, c := range adhocCommands() {
		if c.node == node {
			return c
		}
	}
	return nil
}

// isAdmin reads the flag from the store rather than the login's copy, so
// an administrator removed or demoted meanwhile has no more power.
func (s *session) isAdmin(ctx context.Context) bool {
	st, ok := s.srv.store.(adminStore)
	if !ok {
		return false
	}
	u, err := st.User(ctx, s.user.ID)
	return err == nil && u.Admin
}

// visibleCommand is cmd if this user may see and run it.
func (s *session) visibleCommand(ctx context.Context, node string) *adhocCommand {
	c := findCommand(node)
	if c == nil || (c.admin && !s.isAdmin(ctx)) {
		return nil
	}
	return c
}

// toServerAddress reports whether an iq is for the server itself, where
// the commands live.
func (s *session) toServerAddress(iq *element) bool {
	to := iq.attr("to")
	return to == "" || to == s.srv.domain
}

// adhocDiscoItems answers disco#items of the commands node; false when q
// is not about commands.
func (s *session) adhocDiscoItems(ctx context.Context, iq, q *element) bool {
	if q.attr("node") != nsCommands || !s.toServerAddress(iq) {
		return false
	}
	res := el(nsDiscoItems, "query", "node", nsCommands)
	admin := s.isAdmin(ctx)
	for _, c := range adhocCommands() {
		if !c.admin || admin {
			res.add(el(nsDiscoItems, "item", "jid", s.srv.domain, "node", c.node, "name", c.name))
		}
	}
	s.send(iqResult(iq).add(res))
	return true
}

// adhocDiscoInfo answers disco#info of the commands node and of each
// command's node; false when q is not about commands.
func (s *session) adhocDiscoInfo(ctx context.Context, iq, q *element) bool {
	node := q.attr("node")
	if node == "" || !s.toServerAddress(iq) {
		return false
	}
	if node == nsCommands {
		s.send(iqResult(iq).add(discoInfo(node, []identity{{"automation", "command-list", "Commands"}}, []string{nsDiscoInfo, nsDiscoItems, nsCommands})))
		return true
	}
	if findCommand(node) == nil {
		return false
	}
	c := s.visibleCommand(ctx, node)
	if c == nil {
		s.send(iqError(iq, "cancel", "item-not-found", ""))
		return true
	}
	s.send(iqResult(iq).add(discoInfo(node, []identity{{"automation", "command-node", c.name}}, []string{nsCommands, nsDataForms})))
	return true
}

// handleCommand answers an iq set with a command payload.
func (s *session) handleCommand(ctx context.Context, iq, cmd *element) {
	if iq.attr("type") != "set" {
		s.send(iqError(iq, "modify", "bad-request", "commands are run with iq type 'set'"))
		return
	}
	if !s.toServerAddress(iq) {
		s.send(iqError(iq, "cancel", "service-unavailable", "commands are on the server address, "+s.srv.domain))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, adhocTimeout)
	defer cancel()
	node, sid, action := cmd.attr("node"), cmd.attr("sessionid"), cmd.attr("action")
	c := findCommand(node)
	if c == nil {
		s.send(iqError(iq, "cancel", "item-not-found", "no such command"))
		return
	}
	if c.admin && !s.isAdmin(ctx) {
		s.send(iqError(iq, "auth", "forbidden", "only administrators may run this command"))
		return
	}
	now := time.Now()
	var ex *adhocExec
	if sid != "" {
		if ex = s.srv.adhoc.get(sid, s.full, node, now); ex == nil {
			s.send(commandError(iq, "no such session: it ended, expired or is another device's", "bad-sessionid"))
			return
		}
	}
	switch action {
	case "", "execute", "next", "complete", "prev", "cancel":
	default:
		s.send(commandError(iq, "", "malformed-action"))
		return
	}
	if action == "cancel" {
		if ex != nil {
			s.srv.adhoc.end(ex.id)
		}
		s.send(iqResult(iq).add(el(nsCommands, "command", "node", node, "sessionid", sid, "status", "canceled")))
		return
	}
	var (
		out adhocOut
		err error
	)
	switch {
	case ex == nil:
		if action != "" && action != "execute" {
			s.send(commandError(iq, "start a command with 'execute'", "bad-action"))
			return
		}
		ex = &adhocExec{id: randomID(), node: node, owner: s.full, user: s.user.ID, values: formValues{}, expires: now.Add(adhocTTL)}
		if err := s.srv.adhoc.start(ex, now); err != nil {
			s.replyIQFailure(iq, err)
			return
		}
		out, err = c.render(ctx, s, ex)
	case action == "prev":
		if ex.stage == 0 {
			s.send(commandError(iq, "this is the first stage", "bad-action"))
			return
		}
		ex.stage--
		out, err = c.render(ctx, s, ex)
	default:
		x := submittedForm(cmd)
		if x == nil || (x.attr("type") != "submit" && x.attr("type") != "") {
			s.send(commandError(iq, "submit the stage's form (type 'submit')", "bad-payload"))
			return
		}
		in := parseForm(x)
		stage := ex.stage
		out, err = c.submit(ctx, s, ex, in)
		var fe *fieldError
		if errors.As(err, &fe) {
			// The same stage again, as the user filled it in.
			ex.stage = stage
			for k, v := range in {
				ex.values[k] = v
			}
			out, err = c.render(ctx, s, ex)
			out.notes = append(out.notes, adhocNote{"error", fe.Error()})
		}
	}
	if err != nil {
		s.srv.adhoc.end(ex.id)
		s.replyIQFailure(iq, err)
		return
	}
	status := "executing"
	if out.completed {
		status = "completed"
		s.srv.adhoc.end(ex.id)
	}
	res := el(nsCommands, "command", "node", node, "sessionid", ex.id, "status", status)
	if !out.completed {
		acts := el(nsCommands, "actions", "execute", "complete")
		if out.hasPrev {
			acts.add(el(nsCommands, "prev"))
		}
		if out.hasNext {
			acts.setAttr("execute", "next")
			acts.add(el(nsCommands, "next"))
		} else {
			acts.add(el(nsCommands, "complete"))
		}
		res.add(acts)
	}
	for _, n := range out.notes {
		res.add(el(nsCommands, "note", "type", n.typ).withText(n.text))
	}
	res.add(out.form)
	s.send(iqResult(iq).add(res))
}

// commandError is a bad-request with XEP-0050's condition app.
func commandError(iq *element, text, app string) *element {
	e := iqError(iq, "modify", "bad-request", text)
	e.child(nsClient, "error").add(el(nsCommands, app))
	return e
}

// replyIQFailure answers an IQ (an ad-hoc command, a PEP or private
// storage request) that failed: a stanzaFailure as the error it names,
// anything else as an internal error, logged.
func (s *session) replyIQFailure(iq *element, err error) {
	var f *stanzaFailure
	if errors.As(err, &f) {
		s.send(iqError(iq, f.typ, f.condition, f.text))
		return
	}
	s.log.Warn("answering an IQ with an internal error", "id", iq.attr("id"), "err", err)
	s.send(iqError(iq, "wait", "internal-server-error", ""))
}

// prefill returns field with the execution's value for it, if any.
func (ex *adhocExec) prefill(f formField) formField {
	if v, ok := ex.values[f.Var]; ok {
		f.Values = v
	}
	return f
}

// stageForm is a form of the execution's fields, filled in from what was
// submitted before.
func (ex *adhocExec) stageForm(title, instructions string, fields ...formField) *element {
	for i := range fields {
		fields[i] = ex.prefill(fields[i])
	}
	return dataForm("form", title, instructions, fields...)
}

// keep records a stage's submitted values for later stages.
func (ex *adhocExec) keep(in formValues) {
	for k, v := range in {
		ex.values[k] = v
	}
}

// required is the named value, or a field error when it is empty.
func required(in formValues, field string) (string, error) {
	v := in.get(field)
	if v == "" {
		return "", badField(field, "required")
	}
	return v, nil
}

// networkOptions lists the user's networks, of kind when it is not "".
func (s *session) networkOptions(ctx context.Context, kind core.NetworkKind) ([]formOption, error) {
	nets, err := s.srv.store.Networks(ctx, s.user.ID)
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	sort.Slice(nets, func(i, j int) bool { return nets[i].Name < nets[j].Name })
	var out []formOption
	for _, n := range nets {
		if kind == "" || n.Kind == kind {
			out = append(out, formOption{n.Name + " (" + string(n.Kind) + ")", n.Name})
		}
	}
	return out, nil
}

// networkNamed finds the user's network called name, as a field error
// naming field when there is none.
func (s *session) networkNamed(ctx context.Context, field, name string) (core.Network, error) {
	if name == "" {
		return core.Network{}, badField(field, "required")
	}
	nets, err := s.srv.store.Networks(ctx, s.user.ID)
	if err != nil {
		return core.Network{}, fmt.Errorf("listing networks: %w", err)
	}
	for _, n := range nets {
		if n.Name == name {
			return n, nil
		}
	}
	return core.Network{}, badField(field, "you have no network %q", name)
}

// reloadNetworks refreshes every device's view of the user's networks
// after a command changed them, and has the Hub start or stop bridges.
func (s *session) reloadNetworks(ctx context.Context) {
	if h, ok := s.srv.hub.(networkSyncer); ok {
		if err := h.SyncNetworks(ctx); err != nil {
			s.log.Warn("starting or stopping networks after a command", "err", err)
		}
	}
	for _, other := range s.srv.userSessions(s.user.ID) {
		if err := other.nets.load(ctx); err != nil {
			s.log.Warn("reloading networks", "err", err)
		}
	}
}
