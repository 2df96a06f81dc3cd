// Replies and notes on their way: each waits here, keyed by client_id, until
// its ack. After a reconnect the refetched transcript tells which ones the
// server saved anyway; the rest are sent again with their original client_id.

import { newClientId } from "./dom.js";

export class Outbox {
  constructor() {
    this.items = new Map(); // client_id -> {conversation_id, type: "reply" | "note", text, attachments}
  }

  /** A new reply or note; returns its client_id. */
  add(conversationId, type, text, attachments = []) {
    const clientId = newClientId();
    this.items.set(clientId, { conversation_id: conversationId, type, text, attachments });
    return clientId;
  }

  get(clientId) {
    return this.items.get(clientId) || null;
  }

  /** The ack (or the saved message, or an error) came: forget it. */
  settle(clientId) {
    const item = this.items.get(clientId) || null;
    this.items.delete(clientId);
    return item;
  }

  static frame(clientId, item) {
    const frame = { type: item.type, conversation_id: item.conversation_id, client_id: clientId, text: item.text };
    const ids = (item.attachments || []).map((a) => a.id).filter(Number.isInteger);
    if (ids.length) frame.attachments = ids;
    return frame;
  }

  /**
   * After a (re)connect. `saved`: client_ids found in the refetched
   * transcript of the open conversation. Calls show(clientId, item) for
   * unsaved items of the open conversation that have no bubble yet, and
   * send(frame) for every unsaved item.
   */
  flush(saved, send, show) {
    for (const [clientId, item] of this.items) {
      if (saved.has(clientId)) {
        this.items.delete(clientId);
        continue;
      }
      show(clientId, item);
      send(Outbox.frame(clientId, item));
    }
  }
}
