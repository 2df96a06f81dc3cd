// A WebSocket that keeps itself connected, shared by the widget and the agent
// console: exponential backoff with jitter, keep-alive pings, and a watchdog
// for connections that died silently
// (laptop sleep, NAT timeouts) where the browser never fires `close`.

const BACKOFF_START = 500;
const BACKOFF_MAX = 10000;
const PING_EVERY = 25000;
// Two missed pongs: the connection is gone even if the browser has not noticed.
const SILENCE_LIMIT = 2 * PING_EVERY + 5000;

export class Connection {
  /**
   * @param {string} url
   * @param {{onOpen: Function, onFrame: Function, onClose: Function}} handlers
   *   onOpen() when the socket opens, onFrame(obj) for each JSON frame,
   *   onClose(code) when it drops (a reconnect is already scheduled).
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastFrameAt = 0;

    // Coming back online: no point waiting out a 10 s backoff.
    window.addEventListener("online", () => {
      if (!this.isOpen) this.reconnectNow();
    });
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      this.startPings();
      this.handlers.onOpen();
    });
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame === "object" && typeof frame.type === "string") {
        this.handlers.onFrame(frame);
      }
    });
    // `error` is always followed by `close`; handling close alone is enough.
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.dropped(event.code);
    });
  }

  /** The server answered hello: the connection is proven, restart the backoff. */
  markHealthy() {
    this.attempt = 0;
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  reconnectNow() {
    this.attempt = 0;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      this.stopPings();
      try {
        ws.close();
      } catch (e) {
        /* ignore */
      }
      this.handlers.onClose(0);
    }
    this.connect();
  }

  dropped(code) {
    this.ws = null;
    this.stopPings();
    this.handlers.onClose(code || 0);
    this.scheduleRetry();
  }

  scheduleRetry() {
    if (this.retryTimer) return;
    const base = Math.min(BACKOFF_MAX, BACKOFF_START * 2 ** this.attempt);
    this.attempt += 1;
    // Jitter in [base/2, base): a server restart must not be greeted by every
    // widget reconnecting in the same millisecond.
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  startPings() {
    this.stopPings();
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastFrameAt > SILENCE_LIMIT) {
        const ws = this.ws;
        this.ws = null;
        try {
          ws.close();
        } catch (e) {
          /* ignore */
        }
        this.dropped(0);
        return;
      }
      this.send({ type: "ping" });
    }, PING_EVERY);
  }

  stopPings() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
  }
}
