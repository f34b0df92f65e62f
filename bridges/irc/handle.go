package irc

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/switchboard/switchboard/core"
)

// handle processes one line from the server. It returns an error only
// when the connection must end.
func (s *session) handle(msg ircmsg.Message) error {
	metricLines.Inc()
	var in *batch // set for lines of a history batch
	// label is the labeled-response label the line answers: its own, or
	// that of the labeled-response batch it is in.
	_, label := msg.GetTag("label")
	if ok, id := msg.GetTag("batch"); ok {
		if b := s.batches[id]; b != nil {
			b.note(msg)
			if b.history {
				in = b
			}
			if label == "" {
				label = b.label
			}
		}
	}
	if label != "" && msg.Command != "BATCH" {
		s.labeledReply(msg, label)
	}
	switch msg.Command {
	case "PING":
		return s.c.writeMsg(ircmsg.MakeMessage(nil, "", "PONG", msg.Params...))
	case "PONG":
	case "ERROR":
		text := strings.Join(msg.Params, " ")
		s.serverErr = classified(classifyServerError(text), "the server closed the link: %s", text)
	case "CAP":
		return s.handleCap(msg)
	case "AUTHENTICATE":
		return s.handleAuthenticate(msg)
	case "900": // RPL_LOGGEDIN
	case "903": // RPL_SASLSUCCESS
		s.saslDone = true
		s.b.saslFailures.Store(0)
		return s.c.write("CAP END")
	case "902", "904", "905":
		if !s.saslDone {
			return s.saslFailure(msg)
		}
	case "908": // RPL_SASLMECHS: what the server offers; its 904 follows
		s.log.Info("the server's SASL mechanisms", "mechanisms", lastParam(msg))
	case "906", "907": // aborted, already authenticated
	case "001":
		s.onWelcome(msg)
	case "005":
		if len(msg.Params) > 2 { // nick, tokens..., "are supported"
			s.mu.Lock()
			for _, tok := range msg.Params[1 : len(msg.Params)-1] {
				s.is.apply(tok)
			}
			s.mu.Unlock()
		}
	case "376", "422": // end of MOTD, no MOTD
		s.onReady()
	case "396": // RPL_HOSTHIDDEN: our host as others now see it
		if len(msg.Params) > 1 {
			s.setHost(msg.Params[1])
		}
	case "432", "433", "436", "437":
		return s.handleNickUnavailable(msg)
	case "464": // ERR_PASSWDMISMATCH
		return classified(failPermanent, "the server refused the server password")
	case "465": // ERR_YOUREBANNEDCREEP
		return classified(failBanned, "banned from the server: %s", lastParam(msg))
	case "466": // ERR_YOUWILLBEBANNED: a warning; the ban, if it comes, is a 465 or ERROR
		s.log.Warn("the server warns of a coming ban", "text", lastParam(msg))
	case "BATCH":
		s.handleBatch(msg)
	case "PRIVMSG", "NOTICE":
		s.handleMessage(msg, in, label)
	case "CHATHISTORY":
		s.handleChathistoryLine(msg)
	case "TAGMSG":
		s.handleTagmsg(msg, in)
	case "JOIN":
		s.handleJoin(msg, in)
	case "PART":
		s.handlePart(msg, in)
	case "KICK":
		s.handleKick(msg, in)
	case "QUIT":
		s.handleQuit(msg, in)
	case "NICK":
		s.handleNick(msg, in)
	case "TOPIC":
		s.handleTopic(msg, in)
	case "MODE":
		s.handleMode(msg, in)
	case "INVITE":
		s.handleInvite(msg, in)
	case "AWAY":
		s.handleAway(msg)
	case "CHGHOST":
		s.handleChghost(msg)
	case "332": // RPL_TOPIC
		if len(msg.Params) >= 3 {
			if ch := s.channels[s.fold(msg.Params[1])]; ch != nil {
				ch.topic = msg.Params[2]
				s.emit(core.TopicEvent{Room: s.fold(ch.name), Topic: ch.topic})
			}
		}
	case "353": // RPL_NAMREPLY
		s.handleNames(msg)
	case "366": // RPL_ENDOFNAMES
		s.handleEndOfNames(msg)
	case "FAIL", "WARN":
		s.log.Warn("server reply", "command", msg.Command, "params", strings.Join(msg.Params, " "))
		if msg.Command == "FAIL" && len(msg.Params) > 1 && msg.Params[0] == "CHATHISTORY" {
			s.historyFailed(msg)
		}
	case "471", "473", "474", "475", "477", "403", "405": // cannot join
		if len(msg.Params) >= 3 {
			s.joinRefused(msg.Params[1], lastParam(msg))
		}
	}
	return nil
}

func lastParam(msg ircmsg.Message) string {
	if len(msg.Params) == 0 {
		return ""
	}
	return msg.Params[len(msg.Params)-1]
}

func (s *session) setHost(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	user, _, _ := strings.Cut(s.userHost, "@")
	s.userHost = user + "@" + host
}

// --- turning lines into messages ---

// newMessage fills what every stored line shares: who, when, and the
// network's id for it. Without a msgid, a line that carries server-time
// gets an id derived from time, sender and text, so a replay of it is
// still recognised.
func (s *session) newMessage(msg ircmsg.Message, peer core.Peer, kind core.MessageKind, body string) *core.Message {
	nick := msg.Nick()
	m := &core.Message{
		User:    s.b.env.User.ID,
		Network: s.b.env.Network.ID,
		Peer:    peer,
		Sender:  core.Address{Addr: nick, Name: nick},
		Kind:    kind,
		Body:    body,
		Time:    time.Now(),
	}
	hasTime := false
	if ok, ts := msg.GetTag("time"); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			m.Time, hasTime = t, true
			// The gap fill asks the server for what came after this,
			// so only the server's own clock may move it. This
			// session's fill starts from its snapshot (startGapFill).
			s.b.noteSeen(peer.Remote, t)
		}
	}
	if ok, id := msg.GetTag("msgid"); ok && id != "" {
		m.OriginID = id
	} else if hasTime {
		h := sha256.New()
		h.Write([]byte(strconv.FormatInt(m.Time.UnixMilli(), 10)))
		for _, p := range []string{string(kind), nick, peer.Remote, body} {
			h.Write([]byte{0})
			h.Write([]byte(p))
		}
		m.OriginID = "irc-h:" + hex.EncodeToString(h.Sum(nil)[:16])
	}
	if s.isSelf(nick) {
		m.Direction = core.Outgoing
	}
	return m
}

// store queues m for the Hub.
func (s *session) store(m *core.Message) {
	if err := m.Validate(); err != nil {
		s.log.Warn("dropping a line that makes no valid message", "err", err)
		return
	}
	s.emit(core.MessageEvent{Message: m})
}

func (s *session) roomPeer(name string) core.Peer {
	return core.Peer{Kind: core.Room, Remote: s.fold(name)}
}

// isServerSource tells a server's notices ("irc.example.net") from a
// user's.
func isServerSource(msg ircmsg.Message) bool {
	return msg.Source == "" || (!strings.Contains(msg.Source, "!") && strings.Contains(msg.Source, "."))
}

func (s *session) handleMessage(msg ircmsg.Message, in *batch, label string) {
	if len(msg.Params) < 2 || isServerSource(msg) {
		if len(msg.Params) >= 2 {
			s.log.Debug("server notice", "text", msg.Params[1])
		}
		return
	}
	target, text := msg.Params[0], msg.Params[1]
	kind := core.KindChat
	if msg.Command == "NOTICE" {
		kind = core.KindNotice
	}
	if len(text) > 1 && text[0] == '\x01' {
		verb, rest := splitCTCP(text)
		if verb != "ACTION" {
			if msg.Command == "PRIVMSG" && in == nil && !s.isSelf(msg.Nick()) {
				s.answerCTCP(msg.Nick(), verb, rest)
			}
			return
		}
		kind, text = core.KindAction, rest
	}
	self := s.isSelf(msg.Nick())
	if self && in == nil && s.matchEcho(msg, label) {
		return // our own send, already stored
	}
	if self {
		if ok, id := msg.GetTag("msgid"); ok && s.isSentContinuation(id) {
			return
		}
	}
	s.mu.Lock()
	target = s.is.stripStatus(target)
	isChan := s.is.isChannel(target)
	s.mu.Unlock()
	var peer core.Peer
	switch {
	case isChan:
		peer = s.roomPeer(target)
	case self:
		peer = core.Peer{Kind: core.Direct, Remote: s.fold(target)}
	default:
		peer = core.Peer{Kind: core.Direct, Remote: s.fold(msg.Nick())}
	}
	body, spans := parseFormatting(text)
	m := s.newMessage(msg, peer, kind, body)
	m.Spans = spans
	for _, tag := range []string{"+draft/reply", "+reply"} {
		if ok, id := msg.GetTag(tag); ok && id != "" {
			m.ReplyTo = core.MessageRef{OriginID: id}
			break
		}
	}
	s.store(m)
}

// splitCTCP reads "\x01VERB args\x01".
func splitCTCP(text string) (verb, rest string) {
	text = strings.TrimSuffix(text[1:], "\x01")
	verb, rest, _ = strings.Cut(text, " ")
	return strings.ToUpper(verb), rest
}

// answerCTCP answers the queries every client answers; the replies are
// paced so the bridge cannot be used to flood itself off the network.
func (s *session) answerCTCP(nick, verb, arg string) {
	var reply string
	switch verb {
	case "VERSION":
		reply = "VERSION Switchboard " + Version
	case "PING":
		reply = "PING " + arg
	case "TIME":
		reply = "TIME " + time.Now().Format(time.RFC1123Z)
	case "CLIENTINFO":
		reply = "CLIENTINFO ACTION CLIENTINFO PING TIME VERSION"
	default:
		return
	}
	s.c.tryPaced(ircmsg.MakeMessage(nil, "", "NOTICE", nick, "\x01"+reply+"\x01"))
}

// Version is what CTCP VERSION answers; cmd sets it from the build.
var Version = "dev"

func (s *session) handleTagmsg(msg ircmsg.Message, in *batch) {
	ok, state := msg.GetTag("+typing")
	if !ok || in != nil || len(msg.Params) < 1 || s.isSelf(msg.Nick()) {
		return
	}
	target := msg.Params[0]
	peer := core.Peer{Kind: core.Direct, Remote: s.fold(msg.Nick())}
	if s.isChannelName(target) {
		peer = s.roomPeer(target)
	}
	cs := core.StateComposing
	switch state {
	case "paused":
		cs = core.StatePaused
	case "done":
		cs = core.StateActive
	}
	s.emit(core.TypingEvent{Peer: peer, Sender: msg.Nick(), Direction: core.Incoming, State: cs})
}

func (s *session) isChannelName(target string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.is.isChannel(s.is.stripStatus(target))
}

// --- membership ---

func (s *session) handleJoin(msg ircmsg.Message, in *batch) {
	if len(msg.Params) < 1 {
		return
	}
	name := msg.Params[0]
	key := s.fold(name)
	nick := msg.Nick()
	if in != nil {
		// event-playback: history, not a change of the room now.
		s.store(s.newMessage(msg, s.roomPeer(name), core.KindJoin, ""))
		return
	}
	if s.isSelf(nick) {
		ch := newChannel(name)
		ch.joined = true
		s.channels[key] = ch
		if nuh, err := msg.NUH(); err == nil && nuh.User != "" {
			s.mu.Lock()
			s.userHost = nuh.User + "@" + nuh.Host
			s.mu.Unlock()
		}
		if _, ok := s.wantedChannel(key); !ok {
			s.b.mu.Lock()
			s.b.joined[name] = channelJoin{name: name}
			s.b.mu.Unlock()
		}
		s.markJoined(key)
	}
	ch := s.channels[key]
	if ch == nil {
		return
	}
	m := &member{nick: nick}
	if nuh, err := msg.NUH(); err == nil {
		m.user, m.host = nuh.User, nuh.Host
	}
	ch.members[s.fold(nick)] = m
	s.emit(core.MembershipEvent{Room: key, Change: core.MemberJoined, Member: m.coreMember(&s.is), Self: s.isSelf(nick)})
	s.store(s.newMessage(msg, s.roomPeer(name), core.KindJoin, ""))
}

func (s *session) handlePart(msg ircmsg.Message, in *batch) {
	if len(msg.Params) < 1 {
		return
	}
	reason := ""
	if len(msg.Params) > 1 {
		reason = msg.Params[1]
	}
	for _, name := range strings.Split(msg.Params[0], ",") {
		s.store(s.newMessage(msg, s.roomPeer(name), core.KindPart, reason))
		if in == nil {
			s.leave(name, msg.Nick())
		}
	}
}

// leave removes nick from a channel; for ourselves, the channel itself.
func (s *session) leave(name, nick string) {
	key := s.fold(name)
	ch := s.channels[key]
	if ch == nil {
		return
	}
	self := s.isSelf(nick)
	m := ch.members[s.fold(nick)]
	delete(ch.members, s.fold(nick))
	cm := core.Member{Nick: nick}
	if m != nil {
		cm = m.coreMember(&s.is)
	}
	s.emit(core.MembershipEvent{Room: key, Change: core.MemberLeft, Member: cm, Self: self})
	if self {
		delete(s.channels, key)
		s.mu.Lock()
		delete(s.joinedc, key)
		s.mu.Unlock()
		s.unwantChannel(key)
	}
}

// handleKick stores "victim reason" as the body, so history and search
// say who was kicked and why.
func (s *session) handleKick(msg ircmsg.Message, in *batch) {
	if len(msg.Params) < 2 {
		return
	}
	name, victim := msg.Params[0], msg.Params[1]
	body := victim
	if len(msg.Params) > 2 && msg.Params[2] != "" {
		body += " " + msg.Params[2]
	}
	s.store(s.newMessage(msg, s.roomPeer(name), core.KindKick, body))
	if in == nil {
		s.leave(name, victim)
	}
}

// handleQuit records the quit in every channel the nick shared with us.
func (s *session) handleQuit(msg ircmsg.Message, in *batch) {
	nick := msg.Nick()
	reason := lastParam(msg)
	if in != nil {
		if in.target != "" {
			s.store(s.newMessage(msg, s.roomPeer(in.target), core.KindQuit, reason))
		}
		return
	}
	fn := s.fold(nick)
	for key, ch := range s.channels {
		m, ok := ch.members[fn]
		if !ok {
			continue
		}
		delete(ch.members, fn)
		s.emit(core.MembershipEvent{Room: key, Change: core.MemberLeft, Member: m.coreMember(&s.is)})
		s.store(s.newMessage(msg, s.roomPeer(ch.name), core.KindQuit, reason))
	}
	if fn == s.fold(s.cfg.nicks[0]) {
		s.regainNick() // the nick we want just became free
	}
}

func (s *session) handleNick(msg ircmsg.Message, in *batch) {
	if len(msg.Params) < 1 {
		return
	}
	old, nu := msg.Nick(), msg.Params[0]
	if in != nil {
		if in.target != "" {
			s.store(s.newMessage(msg, s.roomPeer(in.target), core.KindNick, nu))
		}
		return
	}
	self := s.isSelf(old)
	fo, fn := s.fold(old), s.fold(nu)
	for key, ch := range s.channels {
		m, ok := ch.members[fo]
		if !ok {
			continue
		}
		delete(ch.members, fo)
		m.nick = nu
		ch.members[fn] = m
		s.emit(core.MembershipEvent{Room: key, Change: core.MemberUpdated, Member: m.coreMember(&s.is), Self: self, PreviousNick: old})
		s.store(s.newMessage(msg, s.roomPeer(ch.name), core.KindNick, nu))
	}
	if self {
		s.setNick(nu)
	} else if fo == s.fold(s.cfg.nicks[0]) {
		s.regainNick()
	}
}

func (s *session) handleTopic(msg ircmsg.Message, in *batch) {
	if len(msg.Params) < 2 {
		return
	}
	name, topic := msg.Params[0], msg.Params[1]
	s.store(s.newMessage(msg, s.roomPeer(name), core.KindTopic, topic))
	if in != nil {
		return
	}
	if ch := s.channels[s.fold(name)]; ch != nil {
		ch.topic = topic
	}
	s.emit(core.TopicEvent{Room: s.fold(name), Topic: topic, SetBy: msg.Nick(), At: time.Now()})
}

func (s *session) handleMode(msg ircmsg.Message, in *batch) {
	if len(msg.Params) < 2 || !s.isChannelName(msg.Params[0]) {
		return // user modes are the connection's business, not history's
	}
	name := msg.Params[0]
	s.store(s.newMessage(msg, s.roomPeer(name), core.KindMode, strings.Join(msg.Params[1:], " ")))
	ch := s.channels[s.fold(name)]
	if ch == nil || in != nil {
		return
	}
	s.mu.Lock()
	changes := s.is.parseModes(msg.Params[1], msg.Params[2:])
	s.mu.Unlock()
	for _, mc := range changes {
		m := ch.members[s.fold(mc.arg)]
		if m == nil {
			continue
		}
		before := m.prefixes
		s.is.setPrefix(m, mc.mode, mc.add)
		if m.prefixes != before {
			s.emit(core.MembershipEvent{Room: s.fold(name), Change: core.MemberUpdated, Member: m.coreMember(&s.is), Self: s.isSelf(m.nick)})
		}
	}
}

// handleInvite stores an invitation of us in the inviter's conversation
// (body: the channel), and one of someone else (invite-notify) in the room.
func (s *session) handleInvite(msg ircmsg.Message, in *batch) {
	if len(msg.Params) < 2 {
		return
	}
	who, name := msg.Params[0], msg.Params[1]
	if s.isSelf(who) {
		s.store(s.newMessage(msg, core.Peer{Kind: core.Direct, Remote: s.fold(msg.Nick())}, core.KindInvite, name))
		return
	}
	s.store(s.newMessage(msg, s.roomPeer(name), core.KindInvite, who))
}

func (s *session) handleAway(msg ircmsg.Message) {
	st := core.Status{Show: core.ShowAvailable}
	if len(msg.Params) > 0 && msg.Params[0] != "" {
		st = core.Status{Show: core.ShowAway, Text: msg.Params[0]}
	}
	s.emit(core.PresenceEvent{Contact: msg.Nick(), Status: st})
}

func (s *session) handleChghost(msg ircmsg.Message) {
	if len(msg.Params) < 2 {
		return
	}
	fn := s.fold(msg.Nick())
	if s.isSelf(msg.Nick()) {
		s.mu.Lock()
		s.userHost = msg.Params[0] + "@" + msg.Params[1]
		s.mu.Unlock()
	}
	for key, ch := range s.channels {
		if m, ok := ch.members[fn]; ok {
			m.user, m.host = msg.Params[0], msg.Params[1]
			s.emit(core.MembershipEvent{Room: key, Change: core.MemberUpdated, Member: m.coreMember(&s.is)})
		}
	}
}

// handleNames collects RPL_NAMREPLY: "= #chan :@alice +bob carol".
func (s *session) handleNames(msg ircmsg.Message) {
	if len(msg.Params) < 4 {
		return
	}
	ch := s.channels[s.fold(msg.Params[2])]
	if ch == nil {
		return
	}
	if ch.namesFresh == nil {
		ch.namesFresh = make(map[string]*member)
	}
	for _, entry := range strings.Fields(msg.Params[3]) {
		m := s.is.parseNamesEntry(entry)
		if m.nick != "" {
			ch.namesFresh[s.fold(m.nick)] = m
		}
	}
}

// handleEndOfNames replaces the member list with the one just read, hands
// it to the devices in one event, and starts the history gap fill.
func (s *session) handleEndOfNames(msg ircmsg.Message) {
	if len(msg.Params) < 2 {
		return
	}
	key := s.fold(msg.Params[1])
	ch := s.channels[key]
	if ch == nil {
		return
	}
	if ch.namesFresh != nil {
		ch.members, ch.namesFresh = ch.namesFresh, nil
	}
	list := make([]core.Member, 0, len(ch.members))
	for _, m := range ch.members {
		list = append(list, m.coreMember(&s.is))
	}
	s.emit(core.RoomMembersEvent{Room: key, Members: list})
	if !ch.fetched {
		ch.fetched = true
		s.fetchHistory(ch.name)
	}
}
