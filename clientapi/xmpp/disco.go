package xmpp

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/switchboard/switchboard/core"
)

// Service discovery (XEP-0030) answers per address: the server, each
// network's sub-domain, and each contact or room on it.

type identity struct{ category, typ, name string }

// serverFeatures are what the server itself supports. Not "msgoffline"
// (XEP-0160): a message that arrives while no device is connected is
// archived, and devices fetch it by MAM; none is pushed at login.
var serverFeatures = []string{
	nsDiscoInfo, nsDiscoItems, nsPing, nsVersion, nsCarbons, nsSID, nsVCard,
	"urn:xmpp:carbons:rules:0", nsCorrect, nsChatStates, nsReceipts, "urn:xmpp:styling:0", nsBlocking,
	nsMAM, nsMAMExtended, nsFulltext,
	nsCommands, nsPrivate, // adhoc.go, pep.go; PEP's features are the account's (pep.go)
}

var serverIdentity = identity{"server", "im", "Switchboard"}

// serverDisco is the server address's disco#info: identities, features
// and extended information forms (XEP-0128).
type serverDisco struct {
	ids      []identity
	features []string
	forms    []*element
}

// buildServerDisco adds what this server's configuration offers to what
// every server has.
func (srv *Server) buildServerDisco() serverDisco {
	d := serverDisco{ids: []identity{serverIdentity}, features: serverFeatures}
	if srv.uploads != nil {
		id, form := srv.uploadDisco() // upload.go
		d.ids = append(d.ids, id)
		d.features = append(append([]string(nil), d.features...), nsUpload)
		d.forms = append(d.forms, form)
	}
	return d
}

func (d serverDisco) query(node string) *element {
	q := discoInfo(node, d.ids, d.features)
	for _, f := range d.forms {
		q.add(f)
	}
	return q
}

// gatewayType is the XEP-0030 registry's gateway type of a network kind.
func gatewayType(k core.NetworkKind) string {
	switch k {
	case core.KindIRC:
		return "irc"
	case core.KindXMPP:
		return "xmpp"
	}
	return "switchboard"
}

func discoInfo(node string, ids []identity, features []string) *element {
	q := el(nsDiscoInfo, "query", "node", node)
	for _, id := range ids {
		q.add(el(nsDiscoInfo, "identity", "category", id.category, "type", id.typ, "name", id.name))
	}
	for _, f := range features {
		q.add(el(nsDiscoInfo, "feature", "var", f))
	}
	return q
}

func (s *session) handleDiscoInfo(ctx context.Context, iq, q *element) {
	if s.adhocDiscoInfo(ctx, iq, q) || s.pepDiscoInfo(ctx, iq, q) { // adhoc.go, pep.go
		return
	}
	to := iq.attr("to")
	node := q.attr("node")
	switch {
	case to == "" || to == s.srv.domain || to == s.bare:
		if to == s.bare {
			s.send(iqResult(iq).add(discoInfo(node, []identity{{"account", "registered", ""}}, serverFeatures)))
			return
		}
		s.send(iqResult(iq).add(s.srv.disco.query(node)))
		return
	}
	if label, ok := strings.CutSuffix(to, "."+s.srv.domain); ok && !strings.ContainsAny(label, ".@/") {
		if nw, ok := s.nets.byLabel(ctx, label); ok {
			s.send(iqResult(iq).add(discoInfo(node, []identity{{"gateway", gatewayType(nw.Kind), nw.Name}},
				[]string{nsDiscoInfo, nsDiscoItems, nsPing, nsVCard})))
			return
		}
	}
	if r, ok := s.nets.resolve(ctx, to, s.srv.domain); ok {
		if r.peer.Kind == core.Room && r.resource == "" {
			s.send(iqResult(iq).add(discoInfo(node, []identity{{"conference", "text", r.peer.Remote}}, roomDiscoFeatures)))
			return
		}
		id := identity{"client", "pc", r.peer.Remote}
		s.send(iqResult(iq).add(discoInfo(node, []identity{id}, []string{nsDiscoInfo, nsChatStates, nsVCard})))
		return
	}
	s.send(iqError(iq, "cancel", "item-not-found", ""))
}

func (s *session) handleDiscoItems(ctx context.Context, iq, q *element) {
	if s.adhocDiscoItems(ctx, iq, q) || s.pepDiscoItems(ctx, iq, q) { // adhoc.go, pep.go
		return
	}
	to := iq.attr("to")
	res := el(nsDiscoItems, "query", "node", q.attr("node"))
	switch {
	case to == "" || to == s.srv.domain:
		nets := s.nets.all()
		sort.Slice(nets, func(i, j int) bool { return nets[i].Name < nets[j].Name })
		for _, nw := range nets {
			res.add(el(nsDiscoItems, "item", "jid", networkDomain(nw, s.srv.domain), "name", nw.Name))
		}
	case to == s.bare:
	default:
		label, ok := strings.CutSuffix(to, "."+s.srv.domain)
		nw, found := s.nets.byLabel(ctx, label)
		if !ok || !found {
			if _, ok := s.nets.resolve(ctx, to, s.srv.domain); !ok {
				s.send(iqError(iq, "cancel", "item-not-found", ""))
				return
			}
			break
		}
		convs, err := s.srv.store.Conversations(ctx, s.user.ID)
		if err != nil {
			s.send(iqError(iq, "wait", "internal-server-error", ""))
			return
		}
		for _, c := range convs {
			if c.Network == nw.ID && c.Kind == core.Room {
				res.add(el(nsDiscoItems, "item", "jid", peerJID(nw, c.Remote, s.srv.domain), "name", c.Remote))
			}
		}
	}
	s.send(iqResult(iq).add(res))
}

// handleVCard answers vcard-temp (XEP-0054): the user's own vCard, which
// a client may set, and for a contact or occupant of a network what the
// network knows (on IRC, the nick).
func (s *session) handleVCard(ctx context.Context, iq, vcard *element) {
	to := iq.attr("to")
	own := to == "" || to == s.bare
	switch {
	case iq.attr("type") == "set" && !own:
		s.send(iqError(iq, "auth", "forbidden", "only your own vCard can be set"))
	case iq.attr("type") == "set":
		s.setOwnVCard(ctx, iq, vcard)
	case own:
		s.sendOwnVCard(ctx, iq)
	default:
		r, ok := s.nets.resolve(ctx, to, s.srv.domain)
		if !ok {
			s.send(iqError(iq, "cancel", "item-not-found", ""))
			return
		}
		name := r.peer.Remote
		if r.resource != "" {
			name = r.resource
		}
		s.send(iqResult(iq).add(el(nsVCard, "vCard").add(
			el(nsVCard, "FN").withText(name), el(nsVCard, "NICKNAME").withText(name))))
	}
}

// vcardKey keeps the user's own vCard (XEP-0054) among the private XML
// of PEPStore: the keys of XEP-0049 storage all begin with "{", so no
// client reaches this one through jabber:iq:private.
const vcardKey = "vcard-temp"

// setOwnVCard stores the vCard a client publishes for its user, whole,
// as every client of the account will read it back.
func (s *session) setOwnVCard(ctx context.Context, iq, vcard *element) {
	st, err := s.pepStore() // pep.go
	if err != nil {
		s.replyIQFailure(iq, err)
		return
	}
	if err := st.SetPrivateXML(ctx, s.user.ID, vcardKey, serialize(vcard)); err != nil {
		s.replyIQFailure(iq, fmt.Errorf("storing the vCard: %w", err))
		return
	}
	s.send(iqResult(iq))
}

// sendOwnVCard answers the user's own vCard: the one a client stored,
// else one with the account's name as its nickname.
func (s *session) sendOwnVCard(ctx context.Context, iq *element) {
	v := el(nsVCard, "vCard").add(el(nsVCard, "NICKNAME").withText(s.user.Name))
	if st, err := s.pepStore(); err == nil {
		stored, err := st.PrivateXML(ctx, s.user.ID, vcardKey)
		if err != nil {
			s.replyIQFailure(iq, fmt.Errorf("reading the vCard: %w", err))
			return
		}
		if stored != "" {
			if v, err = parseStored(stored); err != nil { // pep.go
				s.replyIQFailure(iq, fmt.Errorf("reading the stored vCard: %w", err))
				return
			}
		}
	}
	s.send(iqResult(iq).add(v))
}

// capsVer is the XEP-0115 verification string of the server's disco info,
// advertised in the stream features so clients can cache it (§5.1, with
// the extended information forms of §5.4).
func (d serverDisco) capsVer() string {
	var b strings.Builder
	ids := make([]string, len(d.ids))
	for i, id := range d.ids {
		ids[i] = id.category + "/" + id.typ + "//" + id.name
	}
	sort.Strings(ids)
	for _, id := range ids {
		b.WriteString(id + "<")
	}
	fs := append([]string(nil), d.features...)
	sort.Strings(fs)
	for _, f := range fs {
		b.WriteString(f + "<")
	}
	for _, form := range d.forms { // one form each, so no form order to keep
		values := parseForm(form)
		b.WriteString(values.get("FORM_TYPE") + "<")
		vars := make([]string, 0, len(values))
		for v := range values {
			if v != "FORM_TYPE" {
				vars = append(vars, v)
			}
		}
		sort.Strings(vars)
		for _, v := range vars {
			b.WriteString(v + "<")
			vs := append([]string(nil), values[v]...)
			sort.Strings(vs)
			for _, x := range vs {
				b.WriteString(x + "<")
			}
		}
	}
	sum := sha1.Sum([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(sum[:])
}
