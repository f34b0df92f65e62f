package core

import "context"

// FedContact is one entry of a user's federation contact list with the
// state of both presence subscriptions (docs/federation.md, section 4.2).
// The fed bridge owns the list, as an XMPP server owns a roster, so it is
// stored, unlike the lists other bridges announce.
type FedContact struct {
	Addr   string // user@domain
	Name   string
	Groups []string
	// Listed: the contact is on the user's list. An entry that is not
	// only holds a stranger's unanswered request.
	Listed bool
	To     bool // the user sees the contact's presence
	From   bool // the contact sees the user's presence
	Ask    bool // the user's request waits for the contact's answer
	// Pending: the contact's request waits for the user's answer;
	// PendingText is what the contact wrote with it.
	Pending     bool
	PendingText string
	// Preapproved: the user approved a request before it came.
	Preapproved bool
}

// Empty reports whether nothing is left of the entry worth storing.
func (c FedContact) Empty() bool {
	return !c.Listed && !c.To && !c.From && !c.Ask && !c.Pending && !c.Preapproved
}

// Subscription is the entry's subscription as contact lists name it.
func (c FedContact) Subscription() Subscription {
	switch {
	case c.To && c.From:
		return SubBoth
	case c.To:
		return SubTo
	case c.From:
		return SubFrom
	}
	return SubNone
}

// FedContactStore keeps the users' federation contact lists.
type FedContactStore interface {
	// FedContacts lists the user's entries, listed or not, by address.
	FedContacts(ctx context.Context, user UserID) ([]FedContact, error)
	// FedContact reads one entry; ok is false when there is none.
	FedContact(ctx context.Context, user UserID, addr string) (c FedContact, ok bool, err error)
	// PutFedContact stores an entry, replacing the one of its address; an
	// Empty entry is deleted.
	PutFedContact(ctx context.Context, user UserID, c FedContact) error
	// CountFedPending counts the entries with an unanswered request.
	CountFedPending(ctx context.Context, user UserID) (int, error)
}
