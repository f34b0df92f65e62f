// The search page: results with their highlights; each opens its
// conversation at that message.

import { api } from './api.js';
import { clock, convTitle, el, nickClass, renderSnippet, senderName } from './format.js';
import { $, ownNick, show, state } from './state.js';

const PAGE = 30;
let current = { q: '', network: '', last: '' };

export function openSearch(params) {
  show('view-search');
  document.title = 'Search – Switchboard';
  const sel = $('search-network');
  const keep = params.get('network') || '';
  sel.replaceChildren(el('option', { value: '' }, 'All networks'),
    ...[...state.networks.values()].map((n) => el('option', { value: String(n.id) }, n.name)));
  sel.value = keep;
  const q = params.get('q') || '';
  $('search-q').value = q;
  if (q && (q !== current.q || keep !== current.network || !$('results').childElementCount)) run(q, keep, '');
  else if (!q) {
    $('results').replaceChildren();
    $('search-more').hidden = true;
    $('search-q').focus();
  }
}

async function run(q, network, before) {
  current = { q, network, last: before };
  $('search-error').textContent = '';
  const p = new URLSearchParams({ q, limit: String(PAGE) });
  if (network) p.set('network', network);
  if (before) p.set('before', before);
  let res;
  try {
    res = await api('GET', '/search?' + p);
  } catch (e) {
    $('search-error').textContent = e.message;
    return;
  }
  if (current.q !== q) return;
  const items = res.results.map(result);
  if (before) $('results').append(...items);
  else $('results').replaceChildren(...(items.length ? items : [el('li', { class: 'muted pad' }, 'Nothing found.')]));
  const last = res.results[res.results.length - 1];
  current.last = last ? last.message.id : '';
  $('search-more').hidden = res.results.length < PAGE;
}

function result(r) {
  const m = r.message;
  const c = state.conversations.get(m.conversation);
  const n = state.networks.get(m.network);
  const d = new Date(m.time);
  const who = senderName(m, ownNick(m.network));
  return el('li', {},
    el('a', { href: `#/c/${m.conversation}/m/${m.id}`, class: 'result', dataset: { id: m.id } },
      el('span', { class: 'where' }, (c ? convTitle(c) : m.peer.remote) + (n ? ' · ' + n.name : '')),
      el('time', { dateTime: m.time }, d.toLocaleDateString() + ' ' + clock(d)),
      el('span', { class: 'snippet' }, el('span', { class: nickClass(who) }, who), ' ', renderSnippet(r.snippet, r.highlights))));
}

export function initSearch() {
  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams({ q: $('search-q').value.trim() });
    if ($('search-network').value) p.set('network', $('search-network').value);
    current.q = ''; // a new submit searches again, even for the same words
    location.hash = '#/search?' + p;
  });
  $('search-more').addEventListener('click', () => run(current.q, current.network, current.last));
}
