package fed

import (
	"fmt"
	"strings"

	"github.com/switchboard/switchboard/core"
)

// Address is a user's federated address, local@domain, or a room's,
// #name@domain (docs/federation.md, section 4.3), normalized to lowercase.
type Address struct {
	Local, Domain string
}

func (a Address) String() string { return a.Local + "@" + a.Domain }

// roomMark starts the local part of a room's address: users and rooms
// share no names, and anyone can tell which an address is.
const roomMark = "#"

// IsRoom reports whether a is a room's address.
func (a Address) IsRoom() bool { return strings.HasPrefix(a.Local, roomMark) }

// maxDomainLen is the longest DNS name.
const maxDomainLen = 253

// ParseAddress reads local@domain or #room@domain, folding case; it
// refuses anything that cannot name a Switchboard user or room
// (docs/federation.md, sections 1 and 4.3).
func ParseAddress(s string) (Address, error) {
	local, domain, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "@")
	if !ok {
		return Address{}, fmt.Errorf("address %q: want user@domain", s)
	}
	if err := core.ValidateUserName(strings.TrimPrefix(local, roomMark)); err != nil {
		return Address{}, fmt.Errorf("address %q: %w", s, err)
	}
	if err := ValidateDomain(domain); err != nil {
		return Address{}, fmt.Errorf("address %q: %w", s, err)
	}
	return Address{Local: local, Domain: domain}, nil
}

// ValidateDomain checks a lowercase DNS name: dot-separated labels of
// letters, digits and inner hyphens.
func ValidateDomain(d string) error {
	if d == "" || len(d) > maxDomainLen {
		return fmt.Errorf("domain %q: must be 1 to %d characters", d, maxDomainLen)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("domain %q: bad label %q", d, label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("domain %q: character %q not allowed", d, c)
			}
		}
	}
	return nil
}

// parsePeer files conversations by normalized address, so "Bob@B.example"
// typed on a device finds bob@b.example's conversation; #name@domain is a
// room. A name that is no
// address is kept as typed; sending to it fails with the parse error.
func parsePeer(remote string) core.Peer {
	kind := core.Direct
	if strings.HasPrefix(strings.TrimSpace(remote), roomMark) {
		kind = core.Room
	}
	if a, err := ParseAddress(remote); err == nil {
		return core.Peer{Kind: kind, Remote: a.String()}
	}
	return core.Peer{Kind: kind, Remote: remote}
}
