// The conversation list: grouped by network, each network with its
// connection state, each conversation with its unread count.

import { api } from './api.js';
import { convTitle, el, renderText, senderName, shortTime, verbOf } from './format.js';
import { $, applyRead, networkState, ownNick, state } from './state.js';

export async function loadList() {
  const [nets, convs] = await Promise.all([api('GET', '/networks'), api('GET', '/conversations')]);
  state.networks = new Map(nets.networks.map((n) => [n.id, n]));
  state.conversations = new Map(convs.conversations.map((c) => [c.id, c]));
  for (const c of state.conversations.values()) applyRead(c);
  renderList();
}

export function renderList() {
  const box = $('conv-list');
  const groups = [];
  for (const n of [...state.networks.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    // Newest activity first, as the API sends them.
    const convs = [...state.conversations.values()].filter((c) => c.network === n.id);
    convs.sort((a, b) => byNewest(a.last_message ? a.last_message.id : '', b.last_message ? b.last_message.id : ''));
    const st = networkState(n);
    groups.push(el('section', { class: 'network', dataset: { network: n.id } },
      el('h3', {}, el('span', { class: 'net-name' }, n.name),
        el('span', { class: 'state ' + st, title: (n.state && n.state.error) || st }, st)),
      convs.length ? el('ul', {}, ...convs.map(item)) : el('p', { class: 'muted pad' }, 'No conversations yet.')));
  }
  if (groups.length === 0) {
    groups.push(el('p', { class: 'muted pad' }, 'No networks yet. ', el('a', { href: '#/networks/new' }, 'Add one'), '.'));
  }
  box.replaceChildren(...groups);
}

// Message ids sort like their times, as plain strings.
function byNewest(a, b) {
  return a < b ? 1 : a > b ? -1 : 0;
}

function item(c) {
  const last = c.last_message;
  let preview = '';
  if (last) {
    const who = senderName(last, ownNick(last.network));
    preview = el('span', { class: 'preview' }, ...(verbOf(last)
      ? [`${who} ${verbOf(last)} `, renderText(last.body)]
      : [last.kind === 'action' ? `* ${who} ` : `${who}: `, renderText(last.body)]));
  }
  return el('li', {},
    el('a', { href: '#/c/' + c.id, class: 'conv' + (c.id === state.open ? ' current' : ''), dataset: { conv: c.id } },
      el('span', { class: 'conv-title' }, convTitle(c)),
      last ? el('time', { dateTime: last.time }, shortTime(new Date(last.time))) : '',
      preview,
      c.unread ? el('span', { class: 'unread', title: c.unread + ' unread' }, String(c.unread)) : ''));
}
