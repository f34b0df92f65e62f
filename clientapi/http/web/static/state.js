// The page's state, shared by the views: the user's networks and
// conversations as the API and the event stream last described them.

export const state = {
  networks: new Map(), // id → network JSON, with .state kept current
  conversations: new Map(), // id → conversation JSON, unread kept current
  open: 0, // the conversation on screen, 0 for none
  // readKnown is the newest read position heard of per conversation, from
  // this page's markers and the stream: a list fetched just before a
  // marker moved must not bring an old unread count back.
  readKnown: new Map(),
};

// noteRead records a read position and applies it to the conversation.
export function noteRead(convId, upto) {
  const known = state.readKnown.get(convId);
  if (!known || known < upto) state.readKnown.set(convId, upto);
  applyRead(state.conversations.get(convId));
}

// applyRead brings a conversation up to the known read position; true if
// what is left unread needs the server to count it.
export function applyRead(c) {
  const known = c && state.readKnown.get(c.id);
  if (!known || (c.read_upto && c.read_upto >= known)) return false;
  c.read_upto = known;
  if (c.last_message && known >= c.last_message.id) {
    c.unread = 0;
    return false;
  }
  return true;
}

export const $ = (id) => document.getElementById(id);

// show makes one of the pane's views visible.
export function show(view) {
  for (const v of ['view-empty', 'view-chat', 'view-search', 'view-add', 'view-contacts']) $(v).hidden = v !== view;
  document.body.dataset.view = view; // the phone layout shows list or pane
}

// ownNick is how the user appears on a network, for sent messages that
// carry no sender.
export function ownNick(networkId) {
  const n = state.networks.get(networkId);
  return (n && n.settings && n.settings.nick) || 'me';
}

// networkState names a network's connection state for people.
export function networkState(n) {
  if (!n) return 'unknown';
  if (!n.enabled) return 'disabled';
  return (n.state && n.state.state) || 'connecting';
}
