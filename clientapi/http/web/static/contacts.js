// People and rooms: the contact lists the networks keep (an XMPP
// account's roster, the federation's contacts) with each contact's
// presence and the requests waiting for an answer; adding a contact,
// joining a room, and writing to an address no conversation has yet.
// Changes arrive on the event stream; the view reloads the lists then.

import { api, idempotencyKey } from './api.js';
import { convTitle, el } from './format.js';
import { loadList } from './list.js';
import { $, show, state } from './state.js';

let open = false;

export async function openContacts() {
  open = true;
  show('view-contacts');
  document.title = 'People and rooms – Switchboard';
  offerNetworks();
  await reloadContacts();
}

export function closeContacts() {
  open = false;
}

// Events about contacts come in bursts (a whole roster on connect): the
// view reloads once for a burst.
let reloadTimer = 0;
export function contactsChanged() {
  if (!open) return;
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => reloadContacts(), 100);
}

async function reloadContacts() {
  let lists;
  try {
    lists = (await api('GET', '/contacts')).networks;
  } catch (e) {
    $('contacts-error').textContent = e.message;
    return;
  }
  if (open) render(lists);
}

// Networks that keep a contact list; rooms and writing work on any.
const LIST_KINDS = ['fed', 'xmpp'];

// offerNetworks fills each form's network choice with the networks that
// can do what the form does, keeping what was chosen.
function offerNetworks() {
  const nets = [...state.networks.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const [form, kinds] of [['contact-form', LIST_KINDS], ['room-form', null], ['write-form', null]]) {
    const select = $(form).elements.network;
    const kept = select.value;
    select.replaceChildren(...nets.filter((n) => !kinds || kinds.includes(n.kind))
      .map((n) => el('option', { value: String(n.id) }, `${n.name} (${n.kind})`)));
    if (kept && [...select.options].some((o) => o.value === kept)) select.value = kept;
  }
}

// SHARED says, for each subscription state, whose presence is shared.
const SHARED = {
  both: 'you see each other’s presence',
  to: 'you see their presence',
  from: 'they see your presence',
  none: 'no presence shared',
};

function render(lists) {
  const sections = lists.map((l) => {
    const n = state.networks.get(l.network);
    return el('section', { class: 'contact-list', dataset: { network: l.network } },
      el('h3', {}, n ? n.name : `network ${l.network}`),
      l.pending.length ? el('ul', { class: 'pending' }, ...l.pending.map((addr) => pendingItem(l.network, addr))) : null,
      l.contacts.length
        ? el('ul', { class: 'contacts' }, ...l.contacts.map((c) => contactItem(l.network, c)))
        : el('p', { class: 'muted' }, 'No contacts yet.'));
  });
  if (sections.length === 0) {
    sections.push(el('p', { class: 'muted pad' }, 'None of your running networks keeps a contact list.'));
  }
  $('contact-lists').replaceChildren(...sections);
}

function pendingItem(network, addr) {
  return el('li', { class: 'request', dataset: { addr } },
    el('span', { class: 'addr' }, addr), ' asks to see your presence ',
    el('button', { type: 'button', class: 'allow', onclick: () => act(() => answer(network, addr, 'allow')) }, 'Allow'),
    el('button', { type: 'button', class: 'deny', onclick: () => act(() => answer(network, addr, 'deny')) }, 'Deny'));
}

function contactItem(network, c) {
  const presence = c.show || 'offline';
  let shared = SHARED[c.subscription] || c.subscription;
  if (c.asked) shared += '; asked to see theirs';
  const conv = [...state.conversations.values()].find((v) => v.network === network && v.peer.remote === c.addr);
  return el('li', { class: 'contact', dataset: { addr: c.addr } },
    el('span', { class: 'presence ' + presence, title: presence }),
    el('span', { class: 'addr' }, c.name ? `${c.name} (${c.addr})` : c.addr),
    el('span', { class: 'show' }, presence + (c.status ? ` – ${c.status}` : '')),
    el('small', { class: 'shared muted' }, shared),
    conv ? el('a', { href: '#/c/' + conv.id, class: 'open' }, 'Open ' + convTitle(conv)) : null,
    el('button', { type: 'button', class: 'link remove', onclick: () => act(() => api('DELETE', contactPath(network, c.addr))) }, 'Remove'));
}

function contactPath(network, addr) {
  return `/networks/${network}/contacts/${encodeURIComponent(addr)}`;
}

function answer(network, addr, action) {
  return api('POST', contactPath(network, addr) + '/subscription', { action });
}

// act runs a change, shows what went wrong, and shows the lists as they
// are now.
async function act(change) {
  $('contacts-error').textContent = '';
  try {
    await change();
  } catch (e) {
    $('contacts-error').textContent = e.message;
  }
  await reloadContacts();
}

function onSubmit(id, change) {
  $(id).addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await act(() => change(form.elements, Number(form.elements.network.value)));
    } finally {
      button.disabled = false;
    }
  });
}

export function initContacts() {
  onSubmit('contact-form', async (f, network) => {
    const addr = f.addr.value.trim();
    await api('PUT', contactPath(network, addr), {});
    await answer(network, addr, 'ask');
    f.addr.value = '';
  });
  onSubmit('room-form', async (f, network) => {
    await api('PUT', `/networks/${network}/rooms/${encodeURIComponent(f.room.value.trim())}`);
    f.room.value = '';
  });
  onSubmit('write-form', async (f, network) => {
    const m = await api('POST', `/networks/${network}/messages`, { to: f.to.value.trim(), body: f.body.value },
      { 'Idempotency-Key': idempotencyKey() });
    f.to.value = '';
    f.body.value = '';
    await loadList();
    location.hash = '#/c/' + m.conversation;
  });
}
