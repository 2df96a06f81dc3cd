// "Earlier conversations": the visitor's closed conversations from
// welcome.previous, each a collapsible section whose messages are fetched
// with a `history` frame the first time it is opened, and shown read-only.

import { language, t } from "./i18n.js";
import { el, formatDate, messageBubble } from "./render.js";

export class EarlierConversations {
  /**
   * @param {HTMLElement} section the <details> wrapping the whole list
   * @param {HTMLElement} list where the per-conversation <details> go
   * @param {(frame: object) => boolean} send
   */
  constructor(section, list, send) {
    this.section = section;
    this.list = list;
    this.send = send;
    this.items = new Map(); // conversation id -> {details, body, requested}
  }

  /** Reconciles with welcome.previous; sections already loaded are kept. */
  render(summaries) {
    this.section.hidden = summaries.length === 0;
    const keep = new Set(summaries.map((c) => c.id));
    for (const [id, item] of this.items) {
      if (!keep.has(id)) {
        item.details.remove();
        this.items.delete(id);
      }
    }
    for (const summary of summaries) {
      if (this.items.has(summary.id)) continue;
      const details = el("details", "hd-previous-item");
      details.setAttribute("data-conversation-id", String(summary.id));
      const head = el("summary");
      head.appendChild(el("span", "hd-previous-date", formatDate(summary.created_at, language())));
      head.appendChild(el("span", "hd-previous-preview", summary.preview || "…"));
      const body = el("div", "hd-previous-body", t("loading"));
      details.append(head, body);
      const item = { details, body, requested: false };
      details.addEventListener("toggle", () => {
        // Offline: `requested` stays false and the next opening asks again.
        if (details.open && !item.requested) {
          item.requested = this.send({ type: "history", conversation_id: summary.id });
        }
      });
      this.items.set(summary.id, item);
      this.list.appendChild(details);
    }
  }

  /** The `history` answer. */
  show(frame) {
    const item = this.items.get(frame.conversation_id);
    if (!item) return;
    item.body.textContent = "";
    for (const message of Array.isArray(frame.messages) ? frame.messages : []) {
      item.body.appendChild(messageBubble(message));
    }
  }
}
