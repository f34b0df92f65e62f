// The chat view: a page of one conversation's messages with day
// separators, paging back (and forward, when opened at a search result),
// live messages from the event stream, the read marker, the composer.

import { api, ApiError, idempotencyKey } from './api.js';
import { clock, convTitle, dayKey, dayLabel, el, nickClass, renderText, senderName, verbOf } from './format.js';
import { renderList } from './list.js';
import { $, networkState, noteRead, ownNick, show, state } from './state.js';

const PAGE = 50;

const chat = {
  conv: 0,
  messages: [], // oldest first
  moreBefore: false,
  moreAfter: false, // opened in the past: newer pages are not loaded yet
  target: '', // the message a search result opened
  loading: false,
  room: null, // a room's state (topic, members) from the API, for the header
};

export async function openChat(convId, target = '') {
  const c = state.conversations.get(convId);
  state.open = convId;
  Object.assign(chat, { conv: convId, messages: [], moreBefore: false, moreAfter: false, target, loading: true, room: null });
  show('view-chat');
  renderHead();
  loadRoom();
  renderList();
  $('messages').replaceChildren();
  $('composer-error').textContent = '';
  const q = target ? `?around=${encodeURIComponent(target)}&limit=${PAGE}` : `?limit=${PAGE}`;
  let page;
  try {
    page = await api('GET', `/conversations/${convId}/messages${q}`);
  } catch (e) {
    if (chat.conv === convId) $('messages').replaceChildren(el('li', { class: 'error' }, e.message));
    return;
  } finally {
    chat.loading = false;
  }
  if (chat.conv !== convId) return; // another conversation was opened meanwhile
  chat.messages = page.messages;
  chat.moreBefore = page.more;
  chat.moreAfter = Boolean(target && page.more_after);
  renderMessages();
  const t = target && document.querySelector(`#messages [data-id="${CSS.escape(target)}"]`);
  if (t) {
    t.classList.add('target');
    t.scrollIntoView({ block: 'center' });
  } else {
    scrollToEnd();
  }
  if (!c) return;
  markRead();
  if (!target) $('composer-text').focus({ preventScroll: true });
}

export function closeChat() {
  chat.conv = 0;
  state.open = 0;
}

function renderHead() {
  const c = state.conversations.get(chat.conv);
  const n = c && state.networks.get(c.network);
  $('chat-title').textContent = c ? convTitle(c) : 'Conversation';
  const room = chat.room;
  $('chat-sub').replaceChildren(n ? `${n.name} · ` : '', el('span', { class: 'state ' + networkState(n) }, networkState(n)),
    room ? el('span', { class: 'members', title: room.members.map((m) => m.nick).join(', ') }, ` · ${room.members.length} in the room`) : '',
    room && room.topic ? el('span', { class: 'topic' }, ' · ', renderText(room.topic.topic)) : '');
  document.title = (c ? convTitle(c) + ' – ' : '') + 'Switchboard';
}

// loadRoom reads the open room's members and topic; a room the network
// is not in (any more) shows none.
async function loadRoom() {
  const conv = chat.conv;
  const c = state.conversations.get(conv);
  if (!c || c.peer.kind !== 'room') return;
  let room = null;
  try {
    room = await api('GET', `/networks/${c.network}/rooms/${encodeURIComponent(c.peer.remote)}`);
  } catch {
    room = null; // not in it: the header says nothing of members
  }
  if (chat.conv !== conv) return;
  chat.room = room && { ...room, members: room.members || [] };
  renderHead();
}

// onRoomChange refreshes the header when the open room's members or
// topic change.
let roomTimer = 0;
export function onRoomChange(network, room) {
  const c = state.conversations.get(chat.conv);
  if (!c || c.network !== network || c.peer.remote !== room) return;
  clearTimeout(roomTimer);
  roomTimer = setTimeout(loadRoom, 200);
}

// renderMessages draws the loaded messages: corrections fold into what
// they correct, a separator starts every day.
function renderMessages() {
  const byId = new Map();
  const shown = [];
  for (const m of chat.messages) {
    const orig = m.correction_of && byId.get(m.correction_of);
    if (orig) {
      orig.edited = m;
      continue;
    }
    const row = { m, edited: null };
    byId.set(m.id, row);
    shown.push(row);
  }
  const items = [];
  let day = '';
  for (const row of shown) {
    const d = new Date(row.m.time);
    if (dayKey(d) !== day) {
      day = dayKey(d);
      items.push(el('li', { class: 'day', role: 'separator' }, el('span', {}, dayLabel(d))));
    }
    items.push(messageItem(row.m, row.edited));
  }
  $('messages').replaceChildren(...items);
  $('load-older').hidden = !chat.moreBefore;
  $('load-newer').hidden = !chat.moreAfter;
}

function messageItem(m, edited) {
  const shown = edited || m;
  const d = new Date(m.time);
  const who = senderName(m, ownNick(m.network));
  const cls = ['msg', m.kind, m.direction];
  if (m.id === chat.target) cls.push('target');
  const time = el('time', { dateTime: m.time, title: d.toLocaleString() }, clock(d));
  const nick = el('span', { class: nickClass(who) }, who);
  let body;
  switch (m.kind) {
    case 'chat':
    case 'notice':
      body = el('span', { class: 'body' }, renderText(shown.body, shown.spans));
      return el('li', { class: cls.join(' '), dataset: { id: m.id } }, time, nick, body,
        edited ? el('span', { class: 'edited muted' }, ' (edited)') : '', attachments(shown));
    case 'action':
      body = el('span', { class: 'body' }, '* ', nick, ' ', renderText(shown.body, shown.spans));
      return el('li', { class: cls.join(' '), dataset: { id: m.id } }, time, body, attachments(shown));
    case 'reaction':
      // The sender's whole set for an earlier message (XEP-0444); an
      // empty one withdraws it.
      body = el('span', { class: 'body' }, '→ ', nick, m.body ? ' reacted ' + m.body.split('\n').join(' ') : ' withdrew a reaction');
      return el('li', { class: cls.join(' ') + ' reaction', dataset: { id: m.id } }, time, body);
    default: {
      // Room events: who did what, with the reason or topic if any.
      const verb = verbOf(m) || m.kind;
      body = el('span', { class: 'body' }, '→ ', nick, ' ', verb, m.body ? ' ' : '', renderText(m.body, m.spans));
      return el('li', { class: cls.join(' '), dataset: { id: m.id } }, time, body);
    }
  }
}

function attachments(m) {
  if (!m.attachments || !m.attachments.length) return '';
  return el('span', { class: 'attachments' }, ...m.attachments.map((a) => renderText(' ' + a.url)));
}

function nearEnd() {
  const s = $('chat-scroll');
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollToEnd() {
  const s = $('chat-scroll');
  s.scrollTop = s.scrollHeight;
}

async function loadOlder() {
  if (chat.loading || !chat.moreBefore || !chat.messages.length) return;
  chat.loading = true;
  const conv = chat.conv;
  try {
    const page = await api('GET', `/conversations/${conv}/messages?limit=${PAGE}&before=${chat.messages[0].id}`);
    if (chat.conv !== conv) return;
    const s = $('chat-scroll');
    const fromEnd = s.scrollHeight - s.scrollTop;
    chat.messages = page.messages.concat(chat.messages);
    chat.moreBefore = page.more;
    renderMessages();
    s.scrollTop = s.scrollHeight - fromEnd; // keep what was on screen in place
  } finally {
    chat.loading = false;
  }
}

async function loadNewer() {
  if (chat.loading || !chat.moreAfter) return;
  chat.loading = true;
  const conv = chat.conv;
  try {
    const last = chat.messages[chat.messages.length - 1];
    const page = await api('GET', `/conversations/${conv}/messages?limit=${PAGE}&after=${last.id}`);
    if (chat.conv !== conv) return;
    const seen = new Set(chat.messages.map((m) => m.id));
    chat.messages = chat.messages.concat(page.messages.filter((m) => !seen.has(m.id)));
    chat.moreAfter = page.more;
    renderMessages();
    markRead();
  } finally {
    chat.loading = false;
  }
}

// onMessage takes a message from the stream or from a send's answer.
export function onMessage(m) {
  const c = state.conversations.get(m.conversation);
  if (c) {
    if (!c.last_message || c.last_message.id <= m.id) c.last_message = m;
    if (m.direction === 'in' && (m.kind === 'chat' || m.kind === 'action') && !(m.conversation === chat.conv && visible())) c.unread++;
  }
  if (m.conversation !== chat.conv || chat.moreAfter || chat.loading) return; // not on screen: the list shows it
  if (chat.messages.some((x) => x.id === m.id)) return;
  const stick = nearEnd();
  chat.messages.push(m);
  chat.messages.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  renderMessages();
  if (stick || m.direction === 'out') scrollToEnd();
  markRead();
}

export function onNetworkChange() {
  if (chat.conv) renderHead();
}

function visible() {
  return document.visibilityState === 'visible';
}

// markRead moves the read marker to the newest message shown, once the
// page is looked at; other devices follow.
let readTimer = 0;
function markRead() {
  clearTimeout(readTimer);
  readTimer = setTimeout(async () => {
    const c = state.conversations.get(chat.conv);
    const last = chat.messages[chat.messages.length - 1];
    if (!c || !last || chat.moreAfter || !visible() || (c.read_upto && c.read_upto >= last.id)) return;
    try {
      await api('PUT', `/conversations/${c.id}/read`, { upto: last.id });
      noteRead(c.id, last.id);
      renderList();
    } catch { /* the next message tries again */ }
  }, 300);
}

// The composer keeps one Idempotency-Key per text: a send retried after a
// failure reuses it, so the network never gets the message twice; a
// changed text is a new message with a new key.
const pending = { text: '', key: '' };

async function send(ev) {
  ev.preventDefault();
  const input = $('composer-text');
  const raw = input.value;
  if (!raw.trim() || !chat.conv) return;
  // Cleared at once, so that typing on is not mixed into this line; put
  // back if the send fails and nothing new was typed.
  input.value = '';
  autosize();
  if (pending.text !== raw) Object.assign(pending, { text: raw, key: idempotencyKey() });
  const action = /^\/me\s/.test(raw);
  const body = action ? raw.replace(/^\/me\s+/, '') : raw;
  const conv = chat.conv;
  $('composer-error').textContent = '';
  try {
    const m = await api('POST', `/conversations/${conv}/messages`, action ? { body, kind: 'action' } : { body },
      { 'Idempotency-Key': pending.key });
    pending.text = '';
    if (chat.moreAfter) await openChat(conv); // jump to the newest end, where it is
    else onMessage(m);
    renderList();
  } catch (e) {
    if (!input.value.trim()) {
      input.value = raw;
      autosize();
    }
    $('composer-error').textContent = e instanceof ApiError ? e.message : 'Not sent (offline?): press Send to retry.';
  }
}

// attach uploads the files picked and sends each one's address, as XMPP
// apps do with the same upload service (XEP-0363). The PUT goes to the
// server the page came from: the slot's address names the daemon's public
// URL, which may be another name for it, and the page may connect only
// to its own origin (CSP connect-src 'self').
async function attach() {
  const input = $('composer-file');
  const files = [...input.files];
  input.value = '';
  const conv = chat.conv;
  if (!conv) return;
  $('composer-error').textContent = '';
  for (const f of files) {
    $('composer-status').textContent = `Uploading ${f.name}…`;
    try {
      const slot = await api('POST', '/uploads', f.type ? { name: f.name, size: f.size, type: f.type } : { name: f.name, size: f.size });
      const put = new URL(slot.put_url);
      const headers = { ...slot.headers };
      if (f.type) headers['Content-Type'] = f.type;
      const resp = await fetch(location.origin + put.pathname, { method: 'PUT', body: f, headers, credentials: 'omit', cache: 'no-store' });
      if (!resp.ok) throw new Error(`${f.name}: the upload failed (HTTP ${resp.status})`);
      const m = await api('POST', `/conversations/${conv}/messages`, { body: slot.get_url }, { 'Idempotency-Key': idempotencyKey() });
      if (conv === chat.conv && !chat.moreAfter) onMessage(m);
    } catch (e) {
      $('composer-error').textContent = e instanceof ApiError ? `${f.name}: ${e.message}` : e.message;
      break;
    }
  }
  $('composer-status').textContent = '';
  renderList();
}

function autosize() {
  const t = $('composer-text');
  t.style.height = 'auto';
  t.style.height = Math.min(t.scrollHeight, 160) + 'px';
}

export function initChat() {
  $('composer').addEventListener('submit', send);
  $('composer-file').addEventListener('change', attach);
  $('composer-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('composer').requestSubmit();
    }
  });
  $('composer-text').addEventListener('input', autosize);
  $('load-older').addEventListener('click', loadOlder);
  $('load-newer').addEventListener('click', loadNewer);
  $('chat-scroll').addEventListener('scroll', () => {
    const s = $('chat-scroll');
    if (s.scrollTop < 40) loadOlder();
    else if (chat.moreAfter && nearEnd()) loadNewer();
  }, { passive: true });
  document.addEventListener('visibilitychange', () => { if (visible() && chat.conv) markRead(); });
}
