// The open conversation's transcript: saved messages (deduplicated by id),
// the agent's own optimistic bubbles (matched by client_id), streamed bot
// replies being assembled, system lines, the visitor's live typing preview,
// and sticky auto-scroll.

import { t } from "./i18n.js";
import { dots, el, formatTime } from "./dom.js";
import { markSaved, messageBubble, setStatus } from "./bubble.js";

const VISITOR_TYPING_HIDE = 5000;

export class Transcript {
  /**
   * @param {HTMLElement} scroller the element that scrolls
   * @param {HTMLElement} list the [data-testid=transcript] container
   * @param {HTMLElement} typingRow the [data-testid=visitor-typing] row
   */
  constructor(scroller, list, typingRow) {
    this.scroller = scroller;
    this.list = list;
    this.typingRow = typingRow;
    this.typingTimer = null;
    this.byId = new Map(); // message id -> bubble
    this.provisional = new Set(); // ids known from an ack only (text not yet authoritative)
    this.pending = new Map(); // client_id -> bubble awaiting ack
    this.streams = new Map(); // reply_id -> {node, next, buffer, late, partial}
    this.stick = true;
    scroller.addEventListener("scroll", () => {
      const gap = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
      this.stick = gap < 48;
    });
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => this.stick && this.scrollToBottom()).observe(scroller);
    }
  }

  /** Highest saved message id on screen. */
  get maxId() {
    let max = 0;
    for (const id of this.byId.keys()) if (id > max) max = id;
    return max;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** Runs a DOM change, then keeps the view pinned to the bottom if it was. */
  change(fn, force) {
    const stick = force || this.stick;
    const result = fn();
    if (stick) {
      this.stick = true;
      this.scrollToBottom();
    }
    return result;
  }

  /** Empties everything (another conversation is opened). */
  reset() {
    this.list.textContent = "";
    this.byId.clear();
    this.provisional.clear();
    this.pending.clear();
    this.streams.clear();
    this.hideVisitorTyping();
    this.stick = true;
  }

  /** Inserts a saved bubble in id order, above any bubbles still being sent or streamed. */
  insertSaved(node, id) {
    for (const other of this.list.querySelectorAll(".ac-msg[data-message-id]")) {
      if (Number(other.getAttribute("data-message-id")) > id) {
        other.before(node);
        return;
      }
    }
    const unsaved = this.list.querySelector(".ac-msg[data-status]");
    if (unsaved) unsaved.before(node);
    else this.list.appendChild(node);
  }

  /** Messages from a detail fetch: merged (a refetch after a reconnect adds what was missed). */
  load(messages) {
    this.change(() => {
      for (const message of messages) this.addMessage(message);
    }, true);
  }

  /** A saved message: "dup" if already on screen, "acked" if it confirmed our bubble, "new" otherwise. */
  addMessage(message) {
    if (!message || !Number.isInteger(message.id)) return "dup";
    const known = this.byId.get(message.id);
    if (known) {
      if (this.provisional.has(message.id)) {
        this.provisional.delete(message.id);
        markSaved(known, message);
      }
      return "dup";
    }
    const mine = message.client_id && this.pending.get(message.client_id);
    if (mine) {
      this.pending.delete(message.client_id);
      markSaved(mine, message);
      this.byId.set(message.id, mine);
      return "acked";
    }
    const node = messageBubble(message);
    this.byId.set(message.id, node);
    this.change(() => this.insertSaved(node, message.id));
    if (message.author === "visitor") this.hideVisitorTyping();
    return "new";
  }

  /** Is a bubble with this client_id waiting for its ack? */
  hasPending(clientId) {
    return this.pending.has(clientId);
  }

  /** The agent's reply or note before the server has it: faded, "Sending…". */
  addPending(item) {
    if (this.pending.has(item.client_id)) return;
    const node = messageBubble({
      author: "agent",
      source: "agent",
      agent_name: item.agent_name,
      text: item.text,
      attachments: item.attachments,
      is_internal: !!item.internal,
      created_at: item.created_at,
    });
    node.setAttribute("data-status", "pending");
    node.setAttribute("data-client-id", item.client_id);
    setStatus(node, t("sending"));
    this.pending.set(item.client_id, node);
    this.change(() => this.list.appendChild(node), true);
  }

  /** ack {client_id, message_id}: the pending bubble is saved (its text is what we typed). */
  ack(clientId, messageId, internal) {
    const node = this.pending.get(clientId);
    if (!node) return false;
    this.pending.delete(clientId);
    if (this.byId.has(messageId)) {
      // The `message` event came first and already has its own bubble.
      if (this.byId.get(messageId) !== node) node.remove();
      return false;
    }
    node.removeAttribute("data-status");
    node.setAttribute("data-message-id", String(messageId));
    if (internal) node.setAttribute("data-internal", "true");
    setStatus(node, "");
    this.byId.set(messageId, node);
    this.provisional.add(messageId);
    // Keep id order if other messages were saved while this one was in flight.
    this.change(() => {
      node.remove();
      this.insertSaved(node, messageId);
    });
    return true;
  }

  fail(clientId, detail) {
    const node = this.pending.get(clientId);
    if (!node) return;
    this.pending.delete(clientId);
    node.setAttribute("data-status", "failed");
    setStatus(node, detail ? `${t("failed")}: ${detail}` : t("failed"));
  }

  // --- streamed replies ---------------------------------------------------------

  /**
   * A bubble for a streaming reply, with the typing dots until its first piece.
   * late: the reply began before this console watched it (the conversation was
   * opened, or the socket reconnected, mid-stream): it shows from the next delta on.
   */
  startReply(replyId, { late = false } = {}) {
    if (this.streams.has(replyId)) return this.streams.get(replyId);
    const node = messageBubble({ author: "bot", source: "llm", text: "" });
    node.setAttribute("data-testid", "agent-streaming");
    node.setAttribute("data-reply-id", replyId);
    node.setAttribute("data-status", "streaming");
    node.setAttribute("aria-busy", "true");
    node.querySelector(".ac-bubble").prepend(dots());
    const stream = { node, next: 0, buffer: new Map(), late, partial: false };
    this.streams.set(replyId, stream);
    this.change(() => this.list.appendChild(node));
    return stream;
  }

  /** Appends in seq order; early pieces wait in a buffer, repeats are ignored. */
  deltaReply(replyId, seq, text) {
    // A delta of a reply whose start this transcript did not see: joined mid-stream.
    const stream = this.streams.get(replyId) || this.startReply(replyId, { late: true });
    if (!Number.isInteger(seq)) return;
    if (stream.late) {
      // The pieces before this one were sent before we watched: start from here
      // (marked "…"); reply.end replaces it all with the saved text.
      stream.late = false;
      if (seq > stream.next) {
        stream.next = seq;
        stream.partial = true;
      }
    }
    if (seq < stream.next || stream.buffer.has(seq)) return;
    stream.buffer.set(seq, String(text || ""));
    let added = "";
    while (stream.buffer.has(stream.next)) {
      added += stream.buffer.get(stream.next);
      stream.buffer.delete(stream.next);
      stream.next += 1;
    }
    if (!added) return;
    if (stream.partial) {
      stream.partial = false;
      added = "… " + added;
    }
    this.change(() => {
      const d = stream.node.querySelector(".ac-dots");
      if (d) d.remove();
      stream.node.querySelector(".ac-text").appendChild(document.createTextNode(added));
    });
  }

  /** reply.end: null removes the bubble, a message finalizes it (its text is authoritative). */
  endReply(replyId, message) {
    const stream = this.streams.get(replyId);
    this.streams.delete(replyId);
    if (!message || !Number.isInteger(message.id)) {
      if (stream) stream.node.remove();
      return;
    }
    if (this.byId.has(message.id)) {
      if (stream) stream.node.remove();
      return;
    }
    if (!stream) {
      this.addMessage(message);
      return;
    }
    this.byId.set(message.id, stream.node);
    this.change(() => {
      markSaved(stream.node, message);
      stream.node.remove();
      this.insertSaved(stream.node, message.id);
    });
  }

  /** The socket dropped (or another agent took over): half-streamed replies go. */
  dropStreams() {
    for (const stream of this.streams.values()) stream.node.remove();
    this.streams.clear();
  }

  /** A system line (e.g. "Alice joined the conversation"). */
  notice(text) {
    const node = el("div", "ac-event");
    node.setAttribute("data-testid", "system-line");
    node.appendChild(el("span", "ac-event-text", text));
    node.appendChild(el("time", "ac-time", formatTime()));
    this.change(() => {
      const unsaved = this.list.querySelector(".ac-msg[data-status]");
      if (unsaved) unsaved.before(node);
      else this.list.appendChild(node);
    });
  }

  // --- the visitor's live draft ----------------------------------------------------

  showVisitorTyping(text) {
    const preview = String(text || "").replace(/\s+/g, " ").trim();
    const label = this.typingRow.querySelector(".ac-typing-label");
    label.textContent = preview ? t("visitorTyping", { text: preview }) : t("visitorTypingEmpty");
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.hideVisitorTyping(), VISITOR_TYPING_HIDE);
    if (this.typingRow.hidden) this.change(() => (this.typingRow.hidden = false));
  }

  hideVisitorTyping() {
    clearTimeout(this.typingTimer);
    this.typingTimer = null;
    this.typingRow.hidden = true;
  }
}
