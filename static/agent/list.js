// The left column: Waiting / Mine / Bot / Closed tabs with counts, the
// search box, and the live conversation list.

import { t } from "./i18n.js";
import { el } from "./dom.js";
import { TABS, buildRow, fillRow, inTab, matchesQuery, refreshTimes, setReplying } from "./rows.js";

const SEARCH_DEBOUNCE = 300;
const TICK = 30000;

export class ConversationList {
  /**
   * @param {{tabs: HTMLElement, search: HTMLInputElement, list: HTMLElement, status: HTMLElement}} ui
   * @param {{api: import("./api.js").Api, store: import("./rows.js").RowStore, me: () => number,
   *          onOpen: (id: number) => void, replying?: (id: number) => boolean,
   *          onRows?: (rows: object[]) => void, onChange: () => void, onSignedOut: () => void}} deps
   */
  constructor(ui, deps) {
    this.ui = ui;
    this.api = deps.api;
    this.store = deps.store;
    this.me = deps.me;
    this.onOpen = deps.onOpen;
    this.replying = deps.replying || (() => false);
    this.onRows = deps.onRows || (() => {});
    this.onChange = deps.onChange;
    this.onSignedOut = deps.onSignedOut;
    this.tab = "waiting";
    this.q = "";
    this.searchIds = null; // Set of ids answering the current search, or null
    this.activeId = null;
    this.nodes = new Map(); // id -> row node
    this.loading = true; // until the first answer
    this.failed = false;
    this.fetchSeq = 0;
    this.searchTimer = null;
    this.abort = null;

    this.tabButtons = new Map();
    for (const button of ui.tabs.querySelectorAll("[data-tab]")) {
      const tab = button.getAttribute("data-tab");
      this.tabButtons.set(tab, button);
      button.addEventListener("click", () => this.setTab(tab));
    }
    ui.tabs.addEventListener("keydown", (event) => this.tabKeys(event));
    ui.search.addEventListener("input", () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.setQuery(ui.search.value), SEARCH_DEBOUNCE);
    });
    ui.search.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && ui.search.value) {
        ui.search.value = "";
        clearTimeout(this.searchTimer);
        this.setQuery("");
      }
    });
    ui.list.addEventListener("click", (event) => {
      const row = event.target.closest("[data-conversation-id]");
      if (row) this.onOpen(Number(row.getAttribute("data-conversation-id")));
    });
    ui.list.addEventListener("keydown", (event) => this.listKeys(event));
    setInterval(() => this.tick(), TICK);
    this.render();
  }

  // --- loading -----------------------------------------------------------------

  /** Every tab, unsearched (counts need them all), then the search if one is typed. */
  async loadAll() {
    const since = this.store.mark();
    this.loading = this.nodes.size === 0;
    this.render();
    const results = await Promise.allSettled(TABS.map((tab) => this.api.conversations(tab, "")));
    let failed = false;
    results.forEach((result, i) => {
      if (result.status === "fulfilled") {
        const rows = Array.isArray(result.value.conversations) ? result.value.conversations : [];
        this.onRows(rows);
        this.store.replaceTab(TABS[i], rows, since, this.me());
      } else {
        failed = true;
        if (result.reason && result.reason.signedOut) this.onSignedOut();
      }
    });
    this.loading = false;
    this.failed = failed;
    if (this.q) await this.loadActive();
    else this.render();
  }

  /** The active tab (with the search), e.g. after switching tabs or typing. */
  async loadActive() {
    if (this.abort) this.abort.abort();
    const controller = typeof AbortController === "function" ? new AbortController() : null;
    this.abort = controller;
    const seq = ++this.fetchSeq;
    const tab = this.tab;
    const q = this.q;
    const since = this.store.mark();
    if (!this.nodes.size) {
      this.loading = true;
      this.render();
    }
    try {
      const data = await this.api.conversations(tab, q, controller && controller.signal);
      if (seq !== this.fetchSeq) return;
      const rows = Array.isArray(data.conversations) ? data.conversations : [];
      this.onRows(rows);
      if (q) {
        for (const row of rows) this.store.offer(row, since);
        this.searchIds = new Set(rows.map((r) => r.id));
      } else {
        this.store.replaceTab(tab, rows, since, this.me());
        this.searchIds = null;
      }
      this.failed = false;
    } catch (e) {
      if (e && e.name === "AbortError") return;
      if (seq !== this.fetchSeq) return;
      if (e && e.signedOut) this.onSignedOut();
      this.failed = true;
    }
    this.loading = false;
    this.render();
  }

  setTab(tab) {
    if (!TABS.includes(tab)) return;
    const changed = tab !== this.tab;
    this.tab = tab;
    if (changed) {
      this.searchIds = this.q ? new Set() : null;
      this.ui.list.scrollTop = 0;
    }
    this.render();
    this.loadActive();
  }

  setQuery(q) {
    const value = String(q || "").trim();
    if (value === this.q) return;
    this.q = value;
    this.searchIds = value ? new Set() : null;
    this.render();
    this.loadActive();
  }

  // --- live ----------------------------------------------------------------------

  /** conversation.updated: insert, move or remove the row by the tab's rule. */
  update(row) {
    if (!row || !Number.isInteger(row.id)) return;
    this.store.upsert(row);
    if (this.searchIds && !this.searchIds.has(row.id) && inTab(this.tab, row, this.me()) && matchesQuery(row, this.q)) {
      this.searchIds.add(row.id);
    }
    this.render();
  }

  /** The bot started or stopped answering conversation `id` (reply.start / reply.end). */
  markReplying(id) {
    const node = this.nodes.get(id);
    if (node) setReplying(node, this.replying(id));
  }

  setActive(id) {
    this.activeId = id;
    for (const [rowId, node] of this.nodes) {
      const on = rowId === id;
      node.classList.toggle("ac-row-active", on);
      if (on) node.setAttribute("aria-current", "true");
      else node.removeAttribute("aria-current");
    }
  }

  // --- rendering -------------------------------------------------------------------

  visibleRows() {
    const rows = this.store.list(this.tab, this.me());
    return this.searchIds ? rows.filter((r) => this.searchIds.has(r.id)) : rows;
  }

  render() {
    const rows = this.visibleRows();
    const container = this.ui.list;
    const keep = new Set();
    let prev = null;
    for (const row of rows) {
      let node = this.nodes.get(row.id);
      if (!node) {
        node = buildRow();
        this.nodes.set(row.id, node);
      }
      fillRow(node, row, this.tab, this.me());
      setReplying(node, this.replying(row.id));
      const on = row.id === this.activeId;
      node.classList.toggle("ac-row-active", on);
      if (on) node.setAttribute("aria-current", "true");
      else node.removeAttribute("aria-current");
      keep.add(row.id);
      const expected = prev ? prev.nextSibling : container.firstChild;
      if (node !== expected) container.insertBefore(node, expected);
      prev = node;
    }
    for (const [id, node] of this.nodes) {
      if (keep.has(id)) continue;
      node.remove();
      this.nodes.delete(id);
    }
    const status = this.ui.status;
    if (rows.length) status.hidden = true;
    else {
      status.hidden = false;
      status.textContent = this.loading ? t("loading") : this.failed ? t("loadFailed") : t("noConversations");
    }
    this.renderTabs();
    this.onChange();
  }

  renderTabs() {
    const me = this.me();
    for (const [tab, button] of this.tabButtons) {
      const active = tab === this.tab;
      button.classList.toggle("ac-tab-active", active);
      button.setAttribute("aria-selected", active ? "true" : "false");
      button.tabIndex = active ? 0 : -1;
      let count = button.querySelector(".ac-count");
      if (!count) {
        count = el("span", "ac-count");
        count.setAttribute("data-testid", "tab-count");
        button.appendChild(count);
      }
      const n = this.store.count(tab, me);
      count.textContent = String(n);
      count.classList.toggle("ac-count-zero", n === 0);
    }
  }

  tick() {
    for (const node of this.nodes.values()) refreshTimes(node);
  }

  // --- keyboard -----------------------------------------------------------------------

  tabKeys(event) {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    const i = TABS.indexOf(this.tab);
    const next = TABS[(i + (event.key === "ArrowRight" ? 1 : TABS.length - 1)) % TABS.length];
    event.preventDefault();
    this.setTab(next);
    this.tabButtons.get(next).focus();
  }

  listKeys(event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const current = event.target.closest("[data-conversation-id]");
    if (!current) return;
    const next = event.key === "ArrowDown" ? current.nextElementSibling : current.previousElementSibling;
    if (next) {
      event.preventDefault();
      next.focus();
    }
  }
}
