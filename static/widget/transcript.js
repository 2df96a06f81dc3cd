// The live transcript: which messages are on screen (deduplicated by id and,
// for the visitor's own optimistic bubbles, by client_id), streamed replies
// being assembled, and sticky auto-scroll.

import { t } from "./i18n.js";
import { setAttachments } from "./attachments.js";
import { dots, el, formatTime, markSaved, messageBubble, setStatus, setText } from "./render.js";

export class Transcript {
  /**
   * @param {HTMLElement} scroller the element that scrolls
   * @param {HTMLElement} list the [data-testid=transcript] container
   */
  constructor(scroller, list) {
    this.scroller = scroller;
    this.list = list;
    this.byId = new Map(); // message id -> bubble
    this.pending = new Map(); // client_id -> bubble awaiting ack
    this.streams = new Map(); // reply_id -> {node, text, next, buffer}
    this.greetingNode = null;
    this.lastJoined = "";
    // Follow new content unless the visitor scrolled up to read something.
    this.stick = true;
    scroller.addEventListener("scroll", () => {
      const gap = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
      this.stick = gap < 48;
    });
    // The mobile keyboard shrinks the viewport without a scroll event.
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => this.stick && this.scrollToBottom()).observe(scroller);
    }
  }

  /** Highest saved message id on screen (what the server may skip on resume). */
  get maxId() {
    let max = 0;
    for (const id of this.byId.keys()) if (id > max) max = id;
    return max;
  }

  has(id) {
    return this.byId.has(id);
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

  /** The site greeting: bot-styled but not a message (no id, not persisted). */
  greeting(text) {
    if (!text) {
      if (this.greetingNode) this.greetingNode.remove();
      this.greetingNode = null;
      return;
    }
    if (!this.greetingNode) {
      const node = el("div", "hd-greeting");
      node.setAttribute("data-author", "bot");
      const bubble = el("div", "hd-bubble");
      bubble.appendChild(el("div", "hd-text"));
      node.appendChild(bubble);
      this.greetingNode = node;
    }
    setText(this.greetingNode.querySelector(".hd-text"), text, "bot");
    this.change(() => this.list.prepend(this.greetingNode));
  }

  /**
   * Forgets the saved messages (another conversation is current). Bubbles
   * still waiting for their ack stay: they will be resent and land in the
   * new conversation.
   */
  clear() {
    for (const node of Array.from(this.list.children)) {
      if (node === this.greetingNode) continue;
      if (node.getAttribute("data-status") === "pending") continue;
      node.remove();
    }
    this.byId.clear();
    this.streams.clear();
    this.lastJoined = "";
  }

  /** Inserts a saved bubble in id order (replays can fill gaps above newer ones). */
  insertSaved(node, id) {
    for (const other of this.list.querySelectorAll(".hd-msg[data-message-id]")) {
      if (Number(other.getAttribute("data-message-id")) > id) {
        other.before(node);
        return;
      }
    }
    this.list.appendChild(node);
  }

  /**
   * A saved message. Returns "dup" if it is already on screen, "acked" if it
   * confirmed one of our pending bubbles, "new" if a bubble was added.
   */
  addMessage(message) {
    if (this.byId.has(message.id)) return "dup";
    const mine = message.author === "visitor" && message.client_id && this.pending.get(message.client_id);
    if (mine) {
      this.pending.delete(message.client_id);
      markSaved(mine, message);
      this.byId.set(message.id, mine);
      return "acked";
    }
    const node = messageBubble(message);
    this.byId.set(message.id, node);
    this.change(() => this.insertSaved(node, message.id));
    return "new";
  }

  /** Fresh signed URLs for files already on screen (cached ones expire). */
  refreshAttachments(messages) {
    for (const message of messages) {
      const node = this.byId.get(message.id);
      if (node && Array.isArray(message.attachments) && message.attachments.length) {
        setAttachments(node.querySelector(".hd-bubble"), message.attachments, "hd", t);
      }
    }
  }

  /** Does any message on screen carry files? */
  get hasAttachments() {
    return !!this.list.querySelector(".hd-attachments:not([hidden])");
  }

  /** The visitor's message before the server has it: faded, "Sending…". */
  addPending(item) {
    if (this.pending.has(item.client_id)) return;
    const node = messageBubble({
      author: "visitor",
      source: "visitor",
      text: item.text,
      attachments: item.attachments,
      created_at: item.created_at,
    });
    node.setAttribute("data-status", "pending");
    node.setAttribute("data-client-id", item.client_id);
    setStatus(node, t("sending"));
    this.pending.set(item.client_id, node);
    this.change(() => this.list.appendChild(node), true);
  }

  /** ack: the pending bubble becomes the saved message (text may be masked). */
  ack(message) {
    if (this.byId.has(message.id)) {
      // Already confirmed through a replayed `message`; a resend's second ack.
      const stale = this.pending.get(message.client_id);
      if (stale && stale !== this.byId.get(message.id)) stale.remove();
      this.pending.delete(message.client_id);
      return false;
    }
    return this.addMessage(message) !== "dup";
  }

  fail(clientId, detail) {
    const node = this.pending.get(clientId);
    if (!node) return;
    this.pending.delete(clientId);
    node.setAttribute("data-status", "failed");
    setStatus(node, detail ? `${t("failed")}: ${detail}` : t("failed"));
  }

  // --- streamed replies -------------------------------------------------------

  startReply(replyId) {
    if (this.streams.has(replyId)) return this.streams.get(replyId);
    const node = messageBubble({ author: "bot", source: "llm", text: "" });
    node.setAttribute("data-testid", "streaming");
    node.setAttribute("data-reply-id", replyId);
    node.setAttribute("aria-busy", "true");
    node.querySelector(".hd-bubble").prepend(dots());
    const stream = { node, next: 0, buffer: new Map() };
    this.streams.set(replyId, stream);
    this.change(() => this.list.appendChild(node));
    return stream;
  }

  /** Appends in seq order; early pieces wait in a buffer, repeats are ignored. */
  deltaReply(replyId, seq, text) {
    // A delta for an unknown reply (its start was lost in a reconnect) still
    // gets a bubble; pieces before the gap wait for reply.end's full text.
    const stream = this.streams.get(replyId) || this.startReply(replyId);
    if (!Number.isInteger(seq) || seq < stream.next || stream.buffer.has(seq)) return;
    stream.buffer.set(seq, String(text || ""));
    let added = "";
    while (stream.buffer.has(stream.next)) {
      added += stream.buffer.get(stream.next);
      stream.buffer.delete(stream.next);
      stream.next += 1;
    }
    if (!added) return;
    this.change(() => {
      const d = stream.node.querySelector(".hd-dots");
      if (d) d.remove();
      // Plain text while streaming (links would flicker half-typed);
      // reply.end linkifies the final text.
      stream.node.querySelector(".hd-text").appendChild(document.createTextNode(added));
    });
  }

  /** Returns true if `message` is newly on screen. */
  endReply(replyId, message) {
    const stream = this.streams.get(replyId);
    this.streams.delete(replyId);
    if (!message) {
      if (stream) stream.node.remove();
      return false;
    }
    if (this.byId.has(message.id)) {
      if (stream) stream.node.remove();
      return false;
    }
    if (!stream) return this.addMessage(message) === "new";
    this.change(() => markSaved(stream.node, message));
    this.byId.set(message.id, stream.node);
    return true;
  }

  /** The socket dropped: half-streamed replies come back whole on resume. */
  dropStreams() {
    for (const stream of this.streams.values()) stream.node.remove();
    this.streams.clear();
  }

  /** A transient system line (e.g. "Alice joined the conversation"). */
  notice(text, key) {
    if (key && key === this.lastJoined) return;
    this.lastJoined = key || "";
    const node = el("div", "hd-event");
    node.setAttribute("data-author", "system");
    node.appendChild(el("span", "hd-text", text));
    node.appendChild(el("time", "hd-time", formatTime()));
    this.change(() => this.list.appendChild(node));
  }
}
