package xmpp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/switchboard/switchboard/core"
)

// Message Archive Management (XEP-0313, urn:xmpp:mam:2 with the #extended
// fields, flipped pages and the metadata query), paged with Result Set
// Management (XEP-0059) and searched with XEP-0431's fulltext field.
//
// Archives. The user's archive is at their bare JID (or no 'to'): every
// chat, action and notice of their one-to-one conversations on every
// network, in archive-id order. Room messages are left out of it unless
// 'with' names the room; a room's own archive is at the room's JID. Room
// events and any other kind messageStanza does not render, and incoming
// messages from blocked addresses (as live delivery does), are skipped
// while reading: they never count toward a page's max, and the ids they
// carry can still be named in before/after (they are in the archive).
//
// Ids and time. The archive id is the store's MessageID, which sorts by the
// time the server stored the message. 'start' and 'end' bound that time
// (through core.MessageIDAt), so they agree with the order of the archive;
// the <delay/> stamp shows the message's own time as the network gave it,
// which for a backlog replayed by a network may be earlier.
//
// The store. core.PageQuery and core.SearchQuery read one conversation at
// a time here (PageQuery needs one; Search could scope to the user, but
// would then page through every room hit to find the chats), so a page of
// the whole archive is a merge of one cursor per conversation, each
// reading ahead only as far as the page needs. A message is looked up by
// id the same way, one conversation after the other. Search pages only
// backwards (Before); a forward page of a search reads back from the upper
// bound, keeping the oldest hits, up to mamMaxScan of them.

const (
	nsMAM         = "urn:xmpp:mam:2"
	nsMAMExtended = "urn:xmpp:mam:2#extended"
	nsRSM         = "http://jabber.org/protocol/rsm"
	nsDataForms   = "jabber:x:data"
	nsXDataValid  = "http://jabber.org/protocol/xdata-validate"
	nsFulltext    = "urn:xmpp:fulltext:0"
	fulltextField = "{" + nsFulltext + "}fulltext"
)

const (
	// mamDefaultPage is a page's size when the query sets no max.
	mamDefaultPage = 50
	// mamMaxPage caps max: a page and the one message that tells whether
	// more follow fit in one store read (core.MaxPageLimit), and a full
	// page stays well inside the session's outQueue.
	mamMaxPage = 250
	// mamMaxIDs bounds the 'ids' field: each id is looked up on its own.
	mamMaxIDs = 50
	// mamMaxScan bounds how many search hits a forward page of a fulltext
	// query reads back through in one conversation.
	mamMaxScan = 20 * core.MaxPageLimit
	// mamTimeout bounds one query, all its store reads together.
	mamTimeout = 30 * time.Second
)

// stanzaFailure is a query the port refuses: the stanza error that says
// why, in words fit for the user.
type stanzaFailure struct{ typ, condition, text string }

func (f *stanzaFailure) Error() string { return f.condition + ": " + f.text }

func failure(typ, condition, format string, args ...any) error {
	return &stanzaFailure{typ, condition, fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return failure("modify", "bad-request", format, args...)
}

// replyFailure answers iq with err: its own stanza error, or
// internal-server-error with the cause kept for the log.
func (s *session) replyFailure(iq *element, err error) {
	var f *stanzaFailure
	if errors.As(err, &f) {
		s.send(iqError(iq, f.typ, f.condition, f.text))
		return
	}
	s.log.Warn("answering a MAM query", "err", err)
	if errors.Is(err, context.DeadlineExceeded) {
		s.send(iqError(iq, "wait", "resource-constraint", "the archive query took too long"))
		return
	}
	s.send(iqError(iq, "wait", "internal-server-error", ""))
}

// handleMAM answers an iq with a urn:xmpp:mam:2 payload: a query (set),
// the query form (get), or the archive's metadata (get).
func (s *session) handleMAM(ctx context.Context, iq, payload *element) {
	ctx, cancel := context.WithTimeout(ctx, mamTimeout)
	defer cancel()
	typ := iq.attr("type")
	arch, err := s.mamArchive(ctx, iq.attr("to"))
	if err != nil {
		s.replyFailure(iq, err)
		return
	}
	switch {
	case payload.Name.Local == "query" && typ == "get":
		s.send(iqResult(iq).add(el(nsMAM, "query").add(mamForm())))
	case payload.Name.Local == "query" && typ == "set":
		if err := s.answerMAMQuery(ctx, iq, payload, arch); err != nil {
			s.replyFailure(iq, err)
		}
	case payload.Name.Local == "metadata" && typ == "get":
		md, err := s.mamMetadata(ctx, arch)
		if err != nil {
			s.replyFailure(iq, err)
			return
		}
		s.send(iqResult(iq).add(md))
	default:
		s.send(iqError(iq, "modify", "bad-request", "query with set, ask for the form or the metadata with get"))
	}
}

// mamForm is the query form with every field the port understands.
func mamForm() *element {
	field := func(typ, name string) *element { return el(nsDataForms, "field", "type", typ, "var", name) }
	return el(nsDataForms, "x", "type", "form").add(
		field("hidden", "FORM_TYPE").add(el(nsDataForms, "value").withText(nsMAM)),
		field("jid-single", "with"),
		field("text-single", "start"),
		field("text-single", "end"),
		field("text-single", "before-id"),
		field("text-single", "after-id"),
		field("list-multi", "ids").add(el(nsXDataValid, "validate", "datatype", "xs:string").add(el(nsXDataValid, "open"))),
		field("text-single", fulltextField),
	)
}

// archive is what a query reads: the user's own archive or one room's.
type archive struct {
	jid  string // the archive's address, from which results come
	room bool
	// all are the archive's conversations, for looking ids up; chats are
	// those a query without 'with' reads.
	all, chats []core.Conversation
	nets       map[core.NetworkID]core.Network
}

// mamArchive finds the archive an iq addressed to 'to' asks for. Only the
// user's own archive and their rooms' are served: another account's is
// forbidden, whatever exists there.
func (s *session) mamArchive(ctx context.Context, to string) (*archive, error) {
	var j jid.JID
	if to != "" {
		var err error
		if j, err = jid.Parse(to); err != nil {
			return nil, failure("modify", "jid-malformed", "%q is not a JID", to)
		}
		if j.Domainpart() == s.srv.domain {
			switch {
			case j.Localpart() == "":
				return nil, failure("cancel", "service-unavailable", "the server has no archive of its own; query your account's")
			case j.Bare().String() != s.bare:
				return nil, failure("auth", "forbidden", "only your own archive can be queried")
			case j.Resourcepart() != "":
				return nil, failure("cancel", "service-unavailable", "query the archive at your bare JID")
			}
		}
	}
	convs, err := s.srv.store.Conversations(ctx, s.user.ID)
	if err != nil {
		return nil, fmt.Errorf("listing conversations: %w", err)
	}
	arch := &archive{jid: s.bare, nets: make(map[core.NetworkID]core.Network)}
	for _, c := range convs {
		nw, ok := s.nets.get(ctx, c.Network)
		if !ok {
			continue
		}
		arch.nets[c.Network] = nw
		arch.all = append(arch.all, c)
		if c.Kind == core.Direct {
			arch.chats = append(arch.chats, c)
		}
	}
	if to == "" || j.Domainpart() == s.srv.domain {
		return arch, nil
	}
	c, ok := s.conversationOf(ctx, arch, to)
	if !ok || c.Kind != core.Room || j.Resourcepart() != "" {
		return nil, failure("cancel", "service-unavailable", "%s keeps no archive here; query your account's with 'with'", to)
	}
	arch.jid, arch.room = j.Bare().String(), true
	arch.all, arch.chats = []core.Conversation{c}, []core.Conversation{c}
	return arch, nil
}

// conversationOf finds the conversation an address on the port names.
func (s *session) conversationOf(ctx context.Context, arch *archive, address string) (core.Conversation, bool) {
	r, ok := s.nets.resolve(ctx, address, s.srv.domain)
	if !ok {
		return core.Conversation{}, false
	}
	var folded *core.Conversation
	for i, c := range arch.all {
		if c.Network != r.network.ID {
			continue
		}
		if c.Remote == r.peer.Remote {
			return c, true
		}
		if folded == nil && strings.EqualFold(c.Remote, r.peer.Remote) {
			folded = &arch.all[i]
		}
	}
	if folded != nil {
		return *folded, true
	}
	return core.Conversation{}, false
}

// mamParams is a parsed query.
type mamParams struct {
	queryID string
	with    string
	hasWith bool
	win     window
	ids     []core.MessageID
	text    string
	max     int
	// backward asks for the page at the end of the window (RSM before).
	backward bool
	// cursor is set when RSM before or after named a message, so the page
	// need not start the result set.
	cursor bool
	flip   bool
	// mustExist are the ids the query names; each must be in the archive.
	mustExist []core.MessageID
}

// window bounds the archive ids a query reads, both ends exclusive; a zero
// hi is open.
type window struct{ lo, hi core.MessageID }

func (w *window) after(id core.MessageID) {
	if id > w.lo {
		w.lo = id
	}
}

func (w *window) before(id core.MessageID) {
	if w.hi == 0 || id < w.hi {
		w.hi = id
	}
}

func (w window) empty() bool { return w.hi != 0 && w.hi <= w.lo+1 }

func (w window) contains(id core.MessageID) bool { return id > w.lo && (w.hi == 0 || id < w.hi) }

// idAt is core.MessageIDAt(t), held to the ids an int64 can carry: zero
// before 1970, the largest id past the year 6429.
func idAt(t time.Time) core.MessageID {
	switch ms := t.UnixMilli(); {
	case ms <= 0:
		return 0
	case ms >= 1<<47:
		return math.MaxInt64
	}
	return core.MessageIDAt(t)
}

// parseMAMQuery reads the query's form (XEP-0004), RSM set and flip-page.
func parseMAMQuery(q *element) (*mamParams, error) {
	p := &mamParams{queryID: q.attr("queryid"), max: mamDefaultPage}
	if err := p.parseForm(q.child(nsDataForms, "x")); err != nil {
		return nil, err
	}
	if err := p.parseRSM(q.child(nsRSM, "set")); err != nil {
		return nil, err
	}
	p.flip = q.child(nsMAM, "flip-page") != nil
	if len(p.ids) > 0 && p.text != "" {
		return nil, badRequest("'ids' cannot be combined with a fulltext search")
	}
	return p, nil
}

func (p *mamParams) parseForm(x *element) error {
	if x == nil {
		return nil // no form: the whole archive
	}
	if t := x.attr("type"); t != "" && t != "submit" {
		return badRequest("the query form must be submitted (type 'submit'), not %q", t)
	}
	seen := make(map[string]bool)
	for _, f := range x.Children {
		if f.Name.Space != nsDataForms || f.Name.Local != "field" {
			continue
		}
		name := f.attr("var")
		if seen[name] {
			return badRequest("the field %q appears twice", name)
		}
		seen[name] = true
		var values []string
		for _, v := range f.Children {
			if v.Name.Space == nsDataForms && v.Name.Local == "value" {
				values = append(values, strings.TrimSpace(v.Text))
			}
		}
		if name == "ids" {
			if len(values) > mamMaxIDs {
				return failure("modify", "policy-violation", "at most %d ids may be asked for at once", mamMaxIDs)
			}
			for _, v := range values {
				id, err := archiveID(v)
				if err != nil {
					return err
				}
				p.ids = append(p.ids, id)
				p.mustExist = append(p.mustExist, id)
			}
			continue
		}
		if len(values) > 1 {
			return badRequest("the field %q takes one value", name)
		}
		v := ""
		if len(values) == 1 {
			v = values[0]
		}
		if err := p.setField(name, v); err != nil {
			return err
		}
	}
	return nil
}

// setField applies a single-valued field; an empty value is no filter.
func (p *mamParams) setField(name, v string) error {
	switch name {
	case "FORM_TYPE":
		if v != nsMAM {
			return badRequest("FORM_TYPE is %q, want %q", v, nsMAM)
		}
		return nil
	case "with", "start", "end", "before-id", "after-id", fulltextField:
	default:
		return failure("cancel", "feature-not-implemented", "the field %q is not supported", name)
	}
	if v == "" {
		return nil
	}
	switch name {
	case "with":
		if _, err := jid.Parse(v); err != nil {
			return badRequest("'with' is not a JID: %q", v)
		}
		p.with, p.hasWith = v, true
	case "start", "end":
		// XEP-0082 DateTime; RFC 3339 parsing accepts the optional
		// fraction of a second.
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return badRequest("'%s' is not an XEP-0082 date and time: %q", name, v)
		}
		if name == "start" {
			if id := idAt(t); id > 0 {
				p.win.after(id - 1)
			}
		} else {
			// Up to and including the millisecond named.
			p.win.before(max(idAt(t.Truncate(time.Millisecond).Add(time.Millisecond)), 1))
		}
	case "before-id", "after-id":
		id, err := archiveID(v)
		if err != nil {
			return err
		}
		p.mustExist = append(p.mustExist, id)
		if name == "before-id" {
			p.win.before(id)
		} else {
			p.win.after(id)
		}
	case fulltextField:
		p.text = v
	}
	return nil
}

// archiveID reads an archive id; one the store could not have made is not
// in the archive (XEP-0313 answers item-not-found).
func archiveID(v string) (core.MessageID, error) {
	id, err := core.ParseMessageID(v)
	if err != nil {
		return 0, failure("cancel", "item-not-found", "no message %q in the archive", v)
	}
	return id, nil
}

func (p *mamParams) parseRSM(set *element) error {
	if set == nil {
		return nil
	}
	for _, c := range set.Children {
		if c.Name.Space != nsRSM {
			continue
		}
		v := strings.TrimSpace(c.Text)
		switch c.Name.Local {
		case "max":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return badRequest("RSM max must be a number of at least 0, not %q", v)
			}
			p.max = min(n, mamMaxPage)
		case "before":
			p.backward = true
			if v != "" {
				id, err := archiveID(v)
				if err != nil {
					return err
				}
				p.mustExist = append(p.mustExist, id)
				p.win.before(id)
				p.cursor = true
			}
		case "after":
			if v != "" {
				id, err := archiveID(v)
				if err != nil {
					return err
				}
				p.mustExist = append(p.mustExist, id)
				p.win.after(id)
				p.cursor = true
			}
		case "index":
			return failure("cancel", "feature-not-implemented", "paging by index is not supported; page with before and after")
		}
	}
	return nil
}

// answerMAMQuery sends the page a query asks for, then the iq result.
func (s *session) answerMAMQuery(ctx context.Context, iq, q *element, arch *archive) error {
	p, err := parseMAMQuery(q)
	if err != nil {
		return err
	}
	page, complete, err := s.readPage(ctx, arch, p)
	if err != nil {
		return err
	}
	order := page
	if p.flip {
		order = slices.Clone(page)
		slices.Reverse(order)
	}
	for _, it := range order {
		s.send(el(nsClient, "message", "to", s.full, "from", arch.jid).add(
			el(nsMAM, "result", "queryid", p.queryID, "id", it.m.ID.String()).add(
				el(nsForward, "forwarded").add(
					el(nsDelay, "delay", "stamp", stamp(it.m.Time)),
					it.st))))
	}
	set := el(nsRSM, "set")
	if len(page) > 0 {
		first := el(nsRSM, "first").withText(page[0].m.ID.String())
		// Where the page starts the result set, its index is known.
		if !p.cursor && (!p.backward || complete) {
			first.setAttr("index", "0")
		}
		set.add(first, el(nsRSM, "last").withText(page[len(page)-1].m.ID.String()))
	}
	// The size of the result set is known when this page is all of it.
	if complete && !p.cursor {
		set.add(el(nsRSM, "count").withText(strconv.Itoa(len(page))))
	}
	s.send(iqResult(iq).add(el(nsMAM, "fin", "complete", strconv.FormatBool(complete)).add(set)))
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// archived is a message with the stanza it is archived as.
type archived struct {
	m  *core.Message
	st *element
}

// readPage reads the page p asks for, oldest first, and whether it reaches
// the end of the result set in the direction read.
func (s *session) readPage(ctx context.Context, arch *archive, p *mamParams) ([]archived, bool, error) {
	found, err := s.lookupIDs(ctx, arch, p.mustExist)
	if err != nil {
		return nil, false, err
	}
	for _, id := range p.mustExist {
		if found[id] == nil {
			return nil, false, failure("cancel", "item-not-found", "no message %s in the archive", id)
		}
	}
	scope := arch.chats
	if p.hasWith {
		scope = nil
		if arch.room {
			return nil, false, failure("cancel", "feature-not-implemented", "a room's archive cannot be filtered by occupant")
		}
		if c, ok := s.conversationOf(ctx, arch, p.with); ok {
			scope = []core.Conversation{c}
		}
	}
	if p.win.empty() || len(scope) == 0 {
		return nil, true, nil
	}
	want := p.max + 1
	var readers []reader
	if len(p.ids) > 0 {
		inScope := make(map[core.ConversationID]bool, len(scope))
		for _, c := range scope {
			inScope[c.ID] = true
		}
		var list []archived
		for _, id := range dedupe(p.ids) {
			m := found[id]
			if !inScope[m.Conversation] || !p.win.contains(id) {
				continue
			}
			if st := s.archivedStanza(ctx, arch, m); st != nil {
				list = append(list, archived{m, st})
			}
		}
		slices.SortFunc(list, func(a, b archived) int { return cmp.Compare(a.m.ID, b.m.ID) })
		if p.backward {
			slices.Reverse(list)
		}
		readers = append(readers, &listReader{list: list})
	} else {
		for _, c := range scope {
			readers = append(readers, &convReader{s: s, arch: arch, conv: c, win: p.win,
				backward: p.backward, text: p.text, want: want})
		}
	}
	got, err := merge(ctx, readers, want, p.backward)
	if err != nil {
		return nil, false, err
	}
	complete := len(got) <= p.max
	got = got[:min(len(got), p.max)]
	if p.backward {
		slices.Reverse(got)
	}
	return got, complete, nil
}

func dedupe(ids []core.MessageID) []core.MessageID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// lookupIDs finds messages of the archive by id; ids not in it are absent
// from the map. The store reads pages of one conversation, so each id is
// looked for in each conversation in turn.
func (s *session) lookupIDs(ctx context.Context, arch *archive, ids []core.MessageID) (map[core.MessageID]*core.Message, error) {
	found := make(map[core.MessageID]*core.Message, len(ids))
	for _, id := range dedupe(ids) {
		for _, c := range arch.all {
			ms, err := s.srv.store.Messages(ctx, core.PageQuery{User: s.user.ID, Conversation: c.ID,
				After: id - 1, Before: id + 1, Order: core.OldestFirst, Limit: 1})
			if err != nil {
				return nil, fmt.Errorf("looking up message %s: %w", id, err)
			}
			if len(ms) == 1 && ms[0].ID == id {
				found[id] = ms[0]
				break
			}
		}
	}
	return found, nil
}

// archivedStanza renders a stored message as the archive holds it, or nil
// for what the archive does not show: kinds messageStanza leaves out, and
// messages from blocked addresses, as live delivery does. Addresses are
// the conversation's, the user at their bare JID; a room archive's
// messages have no 'to' (XEP-0313 §5.1.2).
func (s *session) archivedStanza(ctx context.Context, arch *archive, m *core.Message) *element {
	nw, ok := arch.nets[m.Network]
	if !ok {
		return nil
	}
	if m.Direction == core.Incoming && (s.isBlocked(ctx, peerJID(nw, m.Peer.Remote, s.srv.domain)) ||
		s.isBlocked(ctx, peerJID(nw, s.nets.remoteOf(nw, m.Sender.Addr), s.srv.domain))) {
		return nil
	}
	st := s.messageStanza(nw, m)
	if st == nil {
		return nil
	}
	// The stamp goes on <forwarded/>.
	st.Children = slices.DeleteFunc(st.Children, func(c *element) bool { return c.Name.Space == nsDelay })
	peer := peerJID(nw, m.Peer.Remote, s.srv.domain)
	switch {
	case m.Peer.Kind == core.Room:
		to := s.bare
		if arch.room {
			to = ""
		}
		st.setAttr("to", to)
	case m.Direction == core.Outgoing:
		st.setAttr("from", s.bare)
		st.setAttr("to", peer)
	default:
		st.setAttr("from", peer)
		st.setAttr("to", s.bare)
	}
	// A message a client sent keeps the id that client gave it, so the
	// client recognises it in the archive.
	if oid, ok := strings.CutPrefix(m.OriginID, "xmpp-origin:"); ok && m.Direction == core.Outgoing && oid != "" {
		st.setAttr("id", oid)
		st.add(el(nsSID, "origin-id", "id", oid))
	}
	return st
}

// mamMetadata describes the archive's first and last messages (XEP-0313
// §6), or none when it is empty.
func (s *session) mamMetadata(ctx context.Context, arch *archive) (*element, error) {
	md := el(nsMAM, "metadata")
	var ends [2]*archived
	for i, backward := range []bool{false, true} {
		var readers []reader
		for _, c := range arch.chats {
			readers = append(readers, &convReader{s: s, arch: arch, conv: c, backward: backward, want: 1})
		}
		got, err := merge(ctx, readers, 1, backward)
		if err != nil {
			return nil, err
		}
		if len(got) == 0 {
			return md, nil
		}
		ends[i] = &got[0]
	}
	for i, name := range []string{"start", "end"} {
		md.add(el(nsMAM, name, "id", ends[i].m.ID.String(), "timestamp", stamp(ends[i].m.Time)))
	}
	return md, nil
}

// reader yields the archived messages of one source in the order a page is
// read: ascending ids, or descending for a backward page.
type reader interface {
	peek(ctx context.Context) (*archived, error) // nil at the end
	pop()
}

// merge takes up to want messages from readers, in order.
func merge(ctx context.Context, readers []reader, want int, backward bool) ([]archived, error) {
	var out []archived
	for len(out) < want {
		var best reader
		var head *archived
		for _, r := range readers {
			m, err := r.peek(ctx)
			if err != nil {
				return nil, err
			}
			if m != nil && (head == nil || (m.m.ID > head.m.ID) == backward) {
				best, head = r, m
			}
		}
		if head == nil {
			break
		}
		out = append(out, *head)
		best.pop()
	}
	return out, nil
}

// listReader yields messages already read.
type listReader struct{ list []archived }

func (r *listReader) peek(context.Context) (*archived, error) {
	if len(r.list) == 0 {
		return nil, nil
	}
	return &r.list[0], nil
}

func (r *listReader) pop() { r.list = r.list[1:] }

// convReader reads one conversation's archived messages inside a window,
// a chunk at a time, or the hits of a fulltext search in it.
type convReader struct {
	s        *session
	arch     *archive
	conv     core.Conversation
	win      window // narrowed as chunks are read
	backward bool
	text     string
	want     int // the most the merge will take from this reader

	buf   []archived
	done  bool
	reads int
}

func (r *convReader) peek(ctx context.Context) (*archived, error) {
	for len(r.buf) == 0 && !r.done {
		if err := r.fill(ctx); err != nil {
			return nil, err
		}
	}
	if len(r.buf) == 0 {
		return nil, nil
	}
	return &r.buf[0], nil
}

func (r *convReader) pop() { r.buf = r.buf[1:] }

// chunk is how many messages the next read asks for: what the page may
// still need at first, doubling while skipped kinds leave it short.
func (r *convReader) chunk() int {
	n := r.want << min(r.reads, 10)
	return max(1, min(n, core.MaxPageLimit))
}

func (r *convReader) fill(ctx context.Context) error {
	var got []archived
	var err error
	switch {
	case r.text == "":
		got, err = r.readPage(ctx)
	case r.backward:
		got, err = r.searchBack(ctx)
	default:
		got, err = r.searchForward(ctx)
	}
	if err != nil {
		return err
	}
	r.reads++
	r.buf = append(r.buf, got...)
	return nil
}

// render keeps the messages the archive shows, with their stanzas.
func (r *convReader) render(ctx context.Context, ms []*core.Message) []archived {
	var out []archived
	for _, m := range ms {
		if st := r.s.archivedStanza(ctx, r.arch, m); st != nil {
			out = append(out, archived{m, st})
		}
	}
	return out
}

func (r *convReader) readPage(ctx context.Context) ([]archived, error) {
	n := r.chunk()
	q := core.PageQuery{User: r.s.user.ID, Conversation: r.conv.ID, After: r.win.lo, Before: r.win.hi,
		Order: core.OldestFirst, Limit: n}
	if r.backward {
		q.Order = core.NewestFirst
	}
	ms, err := r.s.srv.store.Messages(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("reading conversation %d: %w", r.conv.ID, err)
	}
	if len(ms) < n {
		r.done = true
	}
	if len(ms) > 0 {
		if last := ms[len(ms)-1].ID; r.backward {
			r.win.hi = last
		} else {
			r.win.lo = last
		}
	}
	return r.render(ctx, ms), nil
}

// searchBack reads the next chunk of hits, newest first, from the top of
// the window down.
func (r *convReader) searchBack(ctx context.Context) ([]archived, error) {
	n := r.chunk()
	res, err := r.s.srv.store.Search(ctx, core.SearchQuery{User: r.s.user.ID, Text: r.text,
		Conversation: r.conv.ID, Before: r.win.hi, Ranking: core.ByTime, Limit: n})
	if err != nil {
		return nil, searchFailure(err)
	}
	if len(res) < n {
		r.done = true
	}
	var ms []*core.Message
	for _, h := range res {
		r.win.hi = h.Message.ID
		if h.Message.ID <= r.win.lo {
			r.done = true
			break
		}
		ms = append(ms, h.Message)
	}
	return r.render(ctx, ms), nil
}

// searchForward returns, oldest first, the oldest hits above the bottom of
// the window: the store pages searches only downwards, so it reads down
// from the top keeping the last want hits seen, at most mamMaxScan deep.
func (r *convReader) searchForward(ctx context.Context) ([]archived, error) {
	r.done = true
	var kept []archived // newest first
	scanned := 0
	for hi := r.win.hi; ; {
		res, err := r.s.srv.store.Search(ctx, core.SearchQuery{User: r.s.user.ID, Text: r.text,
			Conversation: r.conv.ID, Before: hi, Ranking: core.ByTime, Limit: core.MaxPageLimit})
		if err != nil {
			return nil, searchFailure(err)
		}
		for _, h := range res {
			if h.Message.ID <= r.win.lo {
				slices.Reverse(kept)
				return kept, nil
			}
			// Messages the archive skips cannot count toward want.
			st := r.s.archivedStanza(ctx, r.arch, h.Message)
			if st == nil {
				continue
			}
			kept = append(kept, archived{h.Message, st})
			if len(kept) > r.want {
				kept = kept[1:]
			}
		}
		scanned += len(res)
		if len(res) < core.MaxPageLimit {
			slices.Reverse(kept)
			return kept, nil
		}
		if scanned >= mamMaxScan {
			return nil, failure("wait", "resource-constraint",
				"more than %d messages match after that point; page backwards (RSM before) or narrow the search", mamMaxScan)
		}
		hi = res[len(res)-1].Message.ID
	}
}

// searchFailure tells a search text the store cannot parse, which is the
// user's to fix, from a failing store. The store's parser error (history's
// ftsquery.Error, which this port may not import) reads "search query: ...".
func searchFailure(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if reason, ok := strings.CutPrefix(e.Error(), "search query: "); ok {
			return badRequest("fulltext: %s", reason)
		}
	}
	return fmt.Errorf("searching: %w", err)
}
