// The real-time stream: one WebSocket per page, opened with a single-use ticket, resumed
// with `?after=<last event id>` so nothing is missed across reconnects.
//
// Events: 'frame' (detail: a server frame), 'status' (detail: 'connecting' | 'online' |
// 'reconnecting' | 'ended'), 'ready' (detail: the ready frame, on every (re)connect).

import { api } from './api.js';

const PING_MS = 25000;
const DEAD_MS = 55000;

export class Live extends EventTarget {
  constructor() {
    super();
    this.ws = null;
    this.lastEventId = null;
    this.status = 'idle';
    this.attempt = 0;
    this.timer = null;
    this.everOnline = false;
    this.stopped = false;
    addEventListener('online', () => { if (this.status === 'reconnecting') this.reconnectNow(); });
  }

  get open() {
    return this.ws && this.ws.readyState === WebSocket.OPEN && this.status === 'online';
  }

  setStatus(s) {
    if (this.status === s) return;
    this.status = s;
    this.dispatchEvent(new CustomEvent('status', { detail: s }));
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
  }

  reconnectNow() {
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  async connect() {
    if (this.stopped) return;
    this.setStatus(this.everOnline ? 'reconnecting' : 'connecting');
    let ticket;
    try {
      ticket = (await api.post('/api/chat/ws_ticket')).ticket;
    } catch (e) {
      if (e.status === 401) return this.end(e.code);
      return this.retry();
    }
    const url = new URL('/api/chat/ws', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('ticket', ticket);
    if (this.lastEventId != null) url.searchParams.set('after', this.lastEventId);
    const ws = new WebSocket(url);
    this.ws = ws;
    let heard = Date.now();
    ws.onmessage = (ev) => {
      heard = Date.now();
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      if (f.type === 'ready') {
        if (this.lastEventId == null) this.lastEventId = f.last_event_id;
        this.attempt = 0;
        this.everOnline = true;
        this.setStatus('online');
        this.dispatchEvent(new CustomEvent('ready', { detail: f }));
        return;
      }
      if (typeof f.event_id === 'number' && f.event_id > (this.lastEventId ?? -1)) this.lastEventId = f.event_id;
      this.dispatchEvent(new CustomEvent('frame', { detail: f }));
    };
    ws.onclose = (ev) => {
      clearInterval(this.pinger);
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (ev.code === 4401) return this.end('session_ended');
      this.retry();
    };
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - heard > DEAD_MS) return ws.close(4000);
      ws.send('{"type":"ping"}');
    }, PING_MS);
  }

  retry() {
    if (this.stopped) return;
    this.setStatus(this.everOnline ? 'reconnecting' : 'connecting');
    const delay = Math.min(15000, 400 * 2 ** this.attempt) * (0.6 + Math.random() * 0.8);
    this.attempt = Math.min(this.attempt + 1, 8);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  end(reason) {
    this.stopped = true;
    clearInterval(this.pinger);
    this.endReason = reason;
    this.setStatus('ended');
  }

  /** Send a client frame; false when the socket is not open. */
  send(frame) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }
}
