// The page's entry: login, the hash routes, and the event stream that
// keeps every view current.
//
// Routes: #/ (the list), #/c/ID (a conversation), #/c/ID/m/MSG (a
// conversation opened at a message), #/search?q=…, #/networks/new,
// #/contacts (people and rooms).

import { login, logout, onLogout, token } from './api.js';
import { closeChat, initChat, onMessage, onNetworkChange, onRoomChange, openChat } from './chat.js';
import { closeContacts, contactsChanged, initContacts, openContacts } from './contacts.js';
import { loadList, renderList } from './list.js';
import { initNetworks, openAddNetwork } from './networks.js';
import { initSearch, openSearch } from './search.js';
import { EventStream } from './sse.js';
import { $, noteRead, show, state } from './state.js';

const stream = new EventStream(onEvent, (live) => {
  $('live').textContent = live ? 'live' : 'reconnecting…';
  $('live').classList.toggle('on', live);
});

function showLogin() {
  stream.stop();
  $('shell').hidden = true;
  $('login').hidden = false;
  document.title = 'Log in – Switchboard';
  $('login-form').elements.username.focus();
}

async function showShell() {
  $('login').hidden = true;
  $('shell').hidden = false;
  stream.start();
  try {
    await loadList();
  } catch (e) {
    if (!token()) return; // the token was refused: onLogout shows the login
    $('conv-list').textContent = e.message;
    return;
  }
  // The page-load figure: when the conversation list is first on screen
  // (the frame after it was drawn into the DOM).
  requestAnimationFrame(() => setTimeout(() => performance.mark('switchboard:list-painted'), 0));
  route();
}

function route() {
  if (!token()) return;
  const h = location.hash || '#/';
  const chat = /^#\/c\/(\d+)(?:\/m\/([0-9A-Z]{13}))?$/.exec(h);
  document.body.classList.remove('in-pane');
  closeContacts();
  if (chat) {
    document.body.classList.add('in-pane');
    openChat(Number(chat[1]), chat[2] || '');
    return;
  }
  closeChat();
  renderList();
  if (h.startsWith('#/search')) {
    document.body.classList.add('in-pane');
    openSearch(new URLSearchParams(h.slice(h.indexOf('?') + 1 || h.length)));
  } else if (h === '#/networks/new') {
    document.body.classList.add('in-pane');
    openAddNetwork();
  } else if (h === '#/contacts') {
    document.body.classList.add('in-pane');
    openContacts();
  } else {
    show('view-empty');
    document.title = 'Switchboard';
  }
}

// The list is redrawn at most once a frame however many events come.
let listQueued = false;
function queueList() {
  if (listQueued) return;
  listQueued = true;
  requestAnimationFrame(() => {
    listQueued = false;
    renderList();
  });
}

let reloadTimer = 0;
function reloadListSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => loadList().catch(() => {}), 250);
}

function onEvent(name, data) {
  switch (name) {
    case 'message':
    case 'edit':
      if (!state.conversations.has(data.conversation)) reloadListSoon(); // a new conversation
      onMessage(data);
      queueList();
      break;
    case 'network': {
      const n = state.networks.get(data.network);
      if (!n) {
        reloadListSoon();
        break;
      }
      n.state = { state: data.state, error: data.error, since: data.since };
      queueList();
      onNetworkChange();
      break;
    }
    case 'read': {
      if (!state.conversations.has(data.conversation)) break;
      const before = state.readKnown.get(data.conversation);
      noteRead(data.conversation, data.upto);
      const c = state.conversations.get(data.conversation);
      if (c.unread && before !== state.readKnown.get(data.conversation)) {
        reloadListSoon(); // read part way: the server counts what is left
      }
      queueList();
      break;
    }
    case 'membership':
    case 'members':
    case 'topic':
      onRoomChange(data.network, data.room);
      break;
    case 'contacts':
    case 'contact':
    case 'subscription':
    case 'presence':
      contactsChanged();
      break;
    case 'unauthorized':
      logout();
      break;
    default:
  }
}

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target;
  $('login-error').textContent = '';
  const button = f.querySelector('button');
  button.disabled = true;
  try {
    await login(f.elements.username.value, f.elements.password.value);
    f.reset();
    await showShell();
  } catch (err) {
    $('login-error').textContent = err.status === 401 ? 'Wrong user name or password.' : err.message;
  } finally {
    button.disabled = false;
  }
});
$('logout').addEventListener('click', () => logout());
onLogout(() => {
  state.networks.clear();
  state.conversations.clear();
  state.readKnown.clear();
  closeChat();
  showLogin();
});
window.addEventListener('hashchange', route);
initChat();
initSearch();
initNetworks();
initContacts();

if (token()) showShell();
else showLogin();

