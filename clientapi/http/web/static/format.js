// Turning message text into DOM nodes. Nothing here parses markup: text
// becomes text nodes, styles become elements, links become <a> elements
// whose href was checked to be http(s). The CSP's Trusted Types would
// refuse any markup made from a string anyway.

// el builds an element with properties and children (strings become
// text nodes).
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return e;
}

// utf16Index maps the API's byte offsets (into the UTF-8 text) to string
// indices. An offset inside a character moves to that character's end.
function utf16Index(text) {
  const byByte = new Map();
  let bytes = 0;
  let i = 0;
  for (const ch of text) {
    byByte.set(bytes, i);
    const cp = ch.codePointAt(0);
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    i += ch.length;
  }
  byByte.set(bytes, i);
  return (b) => {
    if (b >= bytes) return text.length;
    while (b < bytes && !byByte.has(b)) b++;
    return byByte.get(b);
  };
}

const STYLE_TAGS = { bold: 'b', italic: 'i', underline: 'u', strike: 's', monospace: 'code' };

const COLOUR = /^#[0-9a-f]{6}$/;

// toRanges converts the API's spans to string ranges. Colours are kept
// only when they are #rrggbb: they are set through the CSS object model,
// which the CSP allows where a style attribute would be refused.
function toRanges(text, spans) {
  if (!spans || spans.length === 0) return [];
  const at = utf16Index(text);
  return spans
    .map((s) => ({
      start: at(s.start), end: at(s.end), style: (s.style || []).filter((x) => STYLE_TAGS[x]),
      fg: COLOUR.test(s.fg) ? s.fg : '', bg: COLOUR.test(s.bg) ? s.bg : '',
    }))
    .filter((r) => r.start < r.end && (r.style.length || r.fg || r.bg));
}

// appendStyled appends text[from:to] to parent, cut where a range starts
// or ends, each piece wrapped in the elements of the ranges covering it.
function appendStyled(parent, text, from, to, ranges) {
  const cuts = new Set([from, to]);
  for (const r of ranges) {
    if (r.start > from && r.start < to) cuts.add(r.start);
    if (r.end > from && r.end < to) cuts.add(r.end);
  }
  const points = [...cuts].sort((a, b) => a - b);
  for (let k = 0; k + 1 < points.length; k++) {
    const a = points[k];
    const b = points[k + 1];
    let node = document.createTextNode(text.slice(a, b));
    const styles = new Set();
    let fg = '';
    let bg = '';
    for (const r of ranges) {
      if (r.start <= a && r.end >= b) {
        r.style.forEach((s) => styles.add(s));
        fg = r.fg || fg;
        bg = r.bg || bg;
      }
    }
    for (const s of ['monospace', 'strike', 'underline', 'italic', 'bold']) {
      if (styles.has(s)) node = el(STYLE_TAGS[s], {}, node);
    }
    if (fg || bg) {
      const span = el('span', { class: 'irc-colour' }, node);
      if (fg) span.style.color = fg;
      if (bg) span.style.backgroundColor = bg;
      node = span;
    }
    parent.append(node);
  }
}

// A link is http(s):// up to a space or a character URLs do not end in;
// trailing punctuation and an unbalanced closing bracket stay text.
const LINK = /\bhttps?:\/\/[^\s<>"'`]+/gi;

function findLinks(text) {
  const out = [];
  for (const m of text.matchAll(LINK)) {
    let url = m[0];
    for (;;) {
      const last = url.at(-1);
      if ('.,;:!?'.includes(last)) url = url.slice(0, -1);
      else if (last === ')' && url.split('(').length < url.split(')').length) url = url.slice(0, -1);
      else break;
    }
    let href;
    try { href = new URL(url); } catch { continue; }
    if (href.protocol !== 'http:' && href.protocol !== 'https:') continue;
    out.push({ start: m.index, end: m.index + url.length, href: href.href });
  }
  return out;
}

// renderText returns text as nodes: styled by spans, links clickable.
export function renderText(text, spans) {
  const frag = document.createDocumentFragment();
  const ranges = toRanges(text, spans);
  let pos = 0;
  for (const l of findLinks(text)) {
    appendStyled(frag, text, pos, l.start, ranges);
    const a = el('a', { href: l.href, target: '_blank', rel: 'noopener noreferrer' });
    appendStyled(a, text, l.start, l.end, ranges);
    frag.append(a);
    pos = l.end;
  }
  appendStyled(frag, text, pos, text.length, ranges);
  return frag;
}

// renderSnippet returns a search snippet with its highlights in <mark>;
// highlights are byte offsets, like spans.
export function renderSnippet(snippet, highlights) {
  const frag = document.createDocumentFragment();
  const at = utf16Index(snippet);
  let pos = 0;
  for (const h of highlights || []) {
    const s = at(h.start);
    const e = at(h.end);
    if (s < pos || e <= s) continue;
    frag.append(snippet.slice(pos, s), el('mark', {}, snippet.slice(s, e)));
    pos = e;
  }
  frag.append(snippet.slice(pos));
  return frag;
}

// nickClass gives a sender one of 16 colours, the same on every load and
// device: an FNV-1a hash of the name.
export function nickClass(name) {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return 'nick c' + (h % 16);
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

// dayKey and dayLabel name a message's local day for separators.
export function dayKey(d) { return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`; }

export function dayLabel(d, now = new Date()) {
  if (sameDay(d, now)) return 'Today';
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return 'Yesterday';
  const opts = { weekday: 'long', day: 'numeric', month: 'long' };
  if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return d.toLocaleDateString(undefined, opts);
}

export function clock(d) {
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

// shortTime is for lists: the time today, the date before.
export function shortTime(d, now = new Date()) {
  if (sameDay(d, now)) return clock(d);
  return d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

// senderName is who to show for a message; own is the user's name on
// its network, for sent messages that carry none.
export function senderName(m, own = 'me') {
  return m.sender.name || m.sender.addr || (m.direction === 'out' ? own : '?');
}

// convTitle names a conversation: its name, else the room or peer.
export function convTitle(c) {
  return c.name || c.peer.remote;
}

// VERBS say what a room event did, after the name of who did it.
const VERBS = {
  join: 'joined', part: 'left', quit: 'quit', kick: 'kicked', nick: 'is now known as',
  topic: 'set the topic:', mode: 'set mode', invite: 'invited', reaction: 'reacted',
};

// verbOf is what m did, after the name of who did it: an invitation in
// the conversation with its sender is one of the user, whose body names
// the room (and the reason); in a room, of someone else.
export function verbOf(m) {
  if (m.kind === 'invite' && m.peer?.kind !== 'room') return 'invites you to';
  return VERBS[m.kind];
}
