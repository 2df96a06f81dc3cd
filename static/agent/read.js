// "read {message_id}" for the open conversation while the page is visible:
// at most one frame every 1.5 s, only when there is something new to mark.

const MIN_GAP = 1500;

export class ReadTracker {
  /**
   * @param {{current: () => ({id: number, maxId: number, unread: number} | null),
   *          send: (frame: object) => boolean, onRead: (id: number) => void}} deps
   *   current(): the open, live conversation (null while none, or read-only)
   */
  constructor(deps) {
    this.current = deps.current;
    this.send = deps.send;
    this.onRead = deps.onRead;
    this.sent = new Map(); // conversation id -> highest message id sent
    this.timer = null;
    this.at = 0;
    document.addEventListener("visibilitychange", () => this.schedule());
    window.addEventListener("focus", () => this.schedule());
  }

  schedule() {
    if (this.timer || document.visibilityState !== "visible" || !this.current()) return;
    this.timer = setTimeout(() => this.fire(), Math.max(300, this.at + MIN_GAP - Date.now()));
  }

  fire() {
    this.timer = null;
    const open = this.current();
    if (!open || document.visibilityState !== "visible" || open.maxId <= 0) return;
    // Again for the same id only if the server still counts something unread.
    if (open.maxId <= (this.sent.get(open.id) || 0) && !(open.unread > 0)) return;
    if (this.send({ type: "read", conversation_id: open.id, message_id: open.maxId })) {
      this.sent.set(open.id, open.maxId);
      this.at = Date.now();
      this.onRead(open.id);
    }
  }
}
