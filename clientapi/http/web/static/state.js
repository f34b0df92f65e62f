// The page's state, shared by the views: the user's networks and
// conversations as the API and the event stream last described them.

export const state = {
  networks: new Map(), // id → network JSON, with .state kept current
  conversations: new Map(), // id → conversation JSON, unread kept current
  open: 0, // the conversation on screen, 0 for none
};

export const $ = (id) => document.getElementById(id);

// show makes one of the pane's views visible.
export function show(view) {
  for (const v of ['view-empty', 'view-chat', 'view-search', 'view-add']) $(v).hidden = v !== view;
  document.body.dataset.view = view; // the phone layout shows list or pane
}

// networkState names a network's connection state for people.
export function networkState(n) {
  if (!n) return 'unknown';
  if (!n.enabled) return 'disabled';
  return (n.state && n.state.state) || 'connecting';
}
