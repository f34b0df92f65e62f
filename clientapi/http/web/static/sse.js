// The live event stream. EventSource cannot send an Authorization header,
// so the stream is read with fetch and parsed here; a dropped connection
// is reopened after the server's retry delay with Last-Event-ID, and the
// server replays what was stored meanwhile, so nothing is lost or seen
// twice.

import { token } from './api.js';

export class EventStream {
  // onEvent(name, data) gets each event; onState(live) the connection's
  // state, for the page to show.
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = '';
    this.retry = 2000;
    this.ctrl = null;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.ctrl) this.ctrl.abort();
  }

  async loop() {
    while (!this.stopped && token()) {
      try {
        await this.once();
      } catch (e) {
        if (this.stopped) return;
      }
      this.onState(false);
      if (this.stopped || !token()) return;
      await new Promise((r) => setTimeout(r, this.retry));
    }
  }

  async once() {
    this.ctrl = new AbortController();
    const headers = { Authorization: 'Bearer ' + token(), Accept: 'text/event-stream' };
    if (this.lastId) headers['Last-Event-ID'] = this.lastId;
    const resp = await fetch('/api/v1/events', { headers, signal: this.ctrl.signal, cache: 'no-store', credentials: 'omit' });
    if (resp.status === 401) {
      this.onEvent('unauthorized', {});
      this.stopped = true;
      return;
    }
    if (!resp.ok || !resp.body) throw new Error('events: HTTP ' + resp.status);
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let ev = { name: '', id: null, data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
        if (line === '') {
          this.dispatch(ev);
          ev = { name: '', id: null, data: [] };
          continue;
        }
        if (line.startsWith(':')) continue; // keep-alive comment
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? '' : line.slice(colon + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'event') ev.name = v;
        else if (field === 'data') ev.data.push(v);
        else if (field === 'id') ev.id = v;
        else if (field === 'retry' && /^\d+$/.test(v)) this.retry = Number(v);
      }
    }
  }

  dispatch(ev) {
    if (ev.id !== null) this.lastId = ev.id;
    if (ev.data.length === 0) return;
    let data;
    try { data = JSON.parse(ev.data.join('\n')); } catch { return; }
    const name = ev.name || 'message';
    if (name === 'ready') this.onState(true);
    if (name === 'reconnect' || name === 'unauthorized') {
      if (name === 'unauthorized') this.stopped = true;
      if (this.ctrl) this.ctrl.abort();
    }
    this.onEvent(name, data);
  }
}
