package xmpp

// Client state indication (XEP-0352): while a device says it is inactive
// (a phone in a pocket), presence updates and chat states wait or are
// dropped, and only what the user needs to see goes out at once.

const nsCSI = "urn:xmpp:csi:0"

// maxHeldPresences bounds what waits for an inactive device: one presence
// per address, the latest.
const maxHeldPresences = 4096

type csiState struct {
	inactive bool
	held     map[string][]byte // latest presence per from
	order    []string
}

// hold keeps back e when the device is inactive and e can wait; it reports
// whether e was held (or dropped) instead of sent.
func (c *csiState) hold(e *element) bool {
	if !c.inactive {
		return false
	}
	switch e.Name.Local {
	case "presence":
		from := e.attr("from")
		if c.held == nil {
			c.held = make(map[string][]byte)
		}
		if _, seen := c.held[from]; !seen {
			if len(c.order) >= maxHeldPresences {
				return false // too much held: let it through
			}
			c.order = append(c.order, from)
		}
		c.held[from] = e.bytes()
		return true
	case "message":
		// A chat state alone is stale by the time the device looks.
		if e.child(nsClient, "body") == nil && hasChatState(e) {
			return true
		}
	}
	return false
}

func hasChatState(e *element) bool {
	for _, c := range e.Children {
		if c.Name.Space == nsChatStates {
			return true
		}
	}
	return false
}

// handleCSI switches the device's state; becoming active sends what was
// held.
func (s *session) handleCSI(e *element) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Name.Local {
	case "inactive":
		s.csi.inactive = true
	case "active":
		s.csi.inactive = false
		for _, from := range s.csi.order {
			s.sendLocked(rendered{body: s.csi.held[from]})
		}
		s.csi.held, s.csi.order = nil, nil
	}
}
