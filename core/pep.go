package core

import (
	"context"
	"time"
)

// Personal eventing (XEP-0163) and private XML storage (XEP-0049): what
// XMPP clients store on the user's own account (bookmarks, avatar, nick,
// their settings). Each user sees only their own nodes.

// PEPNodeConfig is a node's configuration, as publish-options and the
// node configuration form set it.
type PEPNodeConfig struct {
	// PersistItems false keeps no items: a publish only notifies.
	PersistItems bool
	// AccessModel is kept as the client set it (open, presence, roster,
	// authorize, whitelist) for publish-options preconditions; whatever
	// it is, only the owner reads the node, since no other account of
	// this server may see the user's.
	AccessModel string
	// MaxItems bounds the node's items, the oldest going first; 0 means
	// as many as the store allows (PEPMaxItems).
	MaxItems int
}

// PEPMaxItems bounds every node's items, whatever its MaxItems says.
const PEPMaxItems = 1000

// PEPItem is one published item.
type PEPItem struct {
	ID        string
	Payload   string // the payload element, serialized XML
	Published time.Time
}

// PEPStore keeps PEP nodes and private XML. Every method is scoped to
// one user.
type PEPStore interface {
	// PEPNode returns a node's configuration; found is false when the
	// user has no such node.
	PEPNode(ctx context.Context, user UserID, node string) (c PEPNodeConfig, found bool, err error)
	// PEPNodes lists the user's nodes by name.
	PEPNodes(ctx context.Context, user UserID) ([]string, error)
	// ConfigurePEPNode creates the node or replaces its configuration,
	// dropping the items the new one does not keep.
	ConfigurePEPNode(ctx context.Context, user UserID, node string, c PEPNodeConfig) error
	// PublishPEPItem stores it on the node, creating the node with c if
	// it does not exist (an existing node keeps its configuration). An
	// item with the same id is replaced and becomes the newest.
	PublishPEPItem(ctx context.Context, user UserID, node string, c PEPNodeConfig, it PEPItem) error
	// PEPItems returns the node's items oldest first: those with ids when
	// ids is not empty, else the newest max (all when max <= 0).
	PEPItems(ctx context.Context, user UserID, node string, ids []string, max int) ([]PEPItem, error)
	// RetractPEPItem deletes an item; false when there was none.
	RetractPEPItem(ctx context.Context, user UserID, node, id string) (bool, error)
	// DeletePEPNode deletes a node with its items; false when there was none.
	DeletePEPNode(ctx context.Context, user UserID, node string) (bool, error)
	// PrivateXML returns the element stored under key, "" when none.
	PrivateXML(ctx context.Context, user UserID, key string) (string, error)
	// SetPrivateXML stores payload under key, replacing what was there.
	SetPrivateXML(ctx context.Context, user UserID, key, payload string) error
}
