// The right column: who the visitor is (VisitorDetails) and their previous
// conversations. Every field is visitor-controlled: textContent only, and a
// link only for an http(s) URL.

import { t } from "./i18n.js";
import { clear, el, formatDate, formatDateTime, safeLink } from "./dom.js";

const DASH = "—";

function text(value) {
  if (value === null || value === undefined || value === "") return DASH;
  return typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
}

export class VisitorPanel {
  /**
   * @param {HTMLElement} root the [data-testid=visitor-panel] element
   * @param {{onOpenPrevious: (id: number) => void}} deps
   */
  constructor(root, deps) {
    this.root = root;
    this.onOpenPrevious = deps.onOpenPrevious;
    this.body = root.querySelector(".ac-vp-body");
    this.empty = root.querySelector(".ac-vp-empty");
    this.shownId = null;
    this.body.addEventListener("click", (event) => {
      const item = event.target.closest("[data-previous-id]");
      if (item) this.onOpenPrevious(Number(item.getAttribute("data-previous-id")));
    });
  }

  /** Marks the conversation on screen in the previous list. */
  markShown(id) {
    this.shownId = id;
    for (const button of this.body.querySelectorAll("[data-previous-id]")) {
      if (Number(button.getAttribute("data-previous-id")) === id) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  clear() {
    this.shownId = null;
    clear(this.body);
    this.empty.hidden = false;
  }

  /**
   * @param {object} visitor VisitorDetails
   * @param {Array} previous [ConversationSummary]
   * @param {number} shownId the conversation on screen (marked in the previous list)
   */
  render(visitor, previous, shownId) {
    const v = visitor && typeof visitor === "object" ? visitor : {};
    this.shownId = shownId;
    clear(this.body);
    this.empty.hidden = true;

    const head = el("div", "ac-vp-head");
    head.appendChild(el("h2", "ac-vp-name", v.name || t("visitor")));
    const badge = el(
      "span",
      "ac-badge " + (v.identity_verified ? "ac-verified" : "ac-unverified"),
      v.identity_verified ? t("verified") : t("unverified"),
    );
    badge.setAttribute("data-testid", "identity-badge");
    badge.setAttribute("data-verified", v.identity_verified ? "true" : "false");
    head.appendChild(badge);
    this.body.appendChild(head);

    const fields = el("dl", "ac-vp-fields");
    const add = (key, label, node) => {
      const row = el("div", "ac-vp-field");
      row.setAttribute("data-field", key);
      row.appendChild(el("dt", "", label));
      const dd = el("dd");
      dd.appendChild(node);
      row.appendChild(dd);
      fields.appendChild(row);
    };
    const plain = (value) => el("span", value ? "" : "ac-muted", text(value));
    const link = (url) => (url ? safeLink(url, String(url), "ac-vp-link") : plain(""));
    add("name", t("name"), plain(v.name));
    add("email", t("email"), plain(v.email));
    add("identity", t("identity"), plain(v.identity_verified ? t("verified") : t("unverified")));
    add("external_id", t("externalId"), plain(v.external_id));
    add("page_url", t("pageUrl"), link(v.page_url));
    add("referrer", t("referrer"), link(v.referrer));
    const browser = plain(v.browser);
    if (v.user_agent) browser.title = String(v.user_agent);
    add("browser", t("browser"), browser);
    add("language", t("language"), plain(v.language));
    add("location", t("location"), plain(v.location));
    add("ip_address", t("ip"), plain(v.ip_address));
    add("created_at", t("firstSeen"), plain(formatDateTime(v.created_at)));
    add("last_seen_at", t("lastSeen"), plain(formatDateTime(v.last_seen_at)));
    this.body.appendChild(fields);

    const attrs = v.attributes && typeof v.attributes === "object" && !Array.isArray(v.attributes) ? v.attributes : {};
    const keys = Object.keys(attrs).sort();
    this.body.appendChild(el("h3", "ac-vp-title", t("attributes")));
    if (keys.length) {
      const table = el("table", "ac-vp-attrs");
      table.setAttribute("data-testid", "visitor-attributes");
      const tbody = el("tbody");
      for (const key of keys) {
        const tr = el("tr");
        tr.appendChild(el("th", "", key));
        tr.appendChild(el("td", "", text(attrs[key])));
        tbody.appendChild(tr);
      }
      table.appendChild(tbody);
      this.body.appendChild(table);
    } else {
      this.body.appendChild(el("p", "ac-muted", DASH));
    }

    this.body.appendChild(el("h3", "ac-vp-title", t("previous")));
    const list = el("ul", "ac-vp-previous");
    list.setAttribute("data-testid", "previous-list");
    for (const item of Array.isArray(previous) ? previous : []) {
      if (!item || !Number.isInteger(item.id)) continue;
      const li = el("li");
      const button = el("button", "ac-vp-prev");
      button.type = "button";
      button.setAttribute("data-testid", "previous-conversation");
      button.setAttribute("data-previous-id", String(item.id));
      if (item.id === shownId) button.setAttribute("aria-current", "true");
      const top = el("span", "ac-vp-prev-top");
      top.appendChild(el("span", "ac-vp-prev-id", t("conversationNo", { id: item.id })));
      top.appendChild(el("span", "ac-vp-prev-date", formatDate(item.created_at)));
      const state = el("span", "ac-pill ac-pill-sm", t("state_" + item.state));
      state.setAttribute("data-state", item.state || "");
      top.appendChild(state);
      button.appendChild(top);
      button.appendChild(el("span", "ac-vp-prev-preview", item.preview || t("noPreview")));
      li.appendChild(button);
      list.appendChild(li);
    }
    if (!list.firstChild) this.body.appendChild(el("p", "ac-muted", t("noPrevious")));
    else this.body.appendChild(list);
  }
}
