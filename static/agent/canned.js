// Canned responses: typing "/" at the start of the composer opens a popup of
// the site's canned responses filtered by the typed shortcut; Enter, Tab or
// a click replaces "/shortcut" with the response text.

import { t } from "./i18n.js";
import { el } from "./dom.js";

const TOKEN = /^\/([^\s/]*)$/;

export class CannedPopup {
  /**
   * @param {HTMLElement} popup the [data-testid=canned-popup] element
   * @param {HTMLTextAreaElement} textarea
   * @param {{api: import("./api.js").Api, onInsert: () => void}} deps
   */
  constructor(popup, textarea, deps) {
    this.popup = popup;
    this.textarea = textarea;
    this.api = deps.api;
    this.onInsert = deps.onInsert;
    this.cache = new Map(); // site id -> Promise<[{shortcut, text}]>
    this.items = [];
    this.siteId = null;
    this.matches = [];
    this.selected = 0;
    popup.hidden = true;
    popup.setAttribute("role", "listbox");
    // mousedown, not click: the textarea must keep focus (and its caret).
    popup.addEventListener("mousedown", (event) => {
      const item = event.target.closest("[data-index]");
      if (!item) return;
      event.preventDefault();
      this.insert(this.matches[Number(item.getAttribute("data-index"))]);
    });
    // Leaving the composer closes the popup (unless focus came straight back).
    textarea.addEventListener("blur", () =>
      setTimeout(() => document.activeElement !== textarea && this.close(), 150),
    );
  }

  get isOpen() {
    return !this.popup.hidden;
  }

  /** The conversation's site: its canned responses are fetched once per site. */
  setSite(siteId) {
    this.close();
    this.siteId = siteId;
    this.items = [];
    if (siteId === null || siteId === undefined) return;
    if (!this.cache.has(siteId)) {
      const p = this.api
        .canned(siteId)
        .then((data) => (Array.isArray(data.canned) ? data.canned : []))
        .catch(() => {
          this.cache.delete(siteId); // try again next time
          return [];
        });
      this.cache.set(siteId, p);
    }
    this.cache.get(siteId).then((items) => {
      if (this.siteId !== siteId) return;
      this.items = items.filter((c) => c && typeof c.shortcut === "string" && typeof c.text === "string");
      this.update();
    });
  }

  /** The "/shortcut" being typed at the start of the composer, or null. */
  token() {
    const ta = this.textarea;
    const caret = ta.selectionStart === ta.selectionEnd ? ta.selectionStart : -1;
    if (caret < 1) return null;
    const m = TOKEN.exec(ta.value.slice(0, caret));
    return m ? m[1] : null;
  }

  /** After every input / caret move: open, filter or close. */
  update() {
    const typed = this.token();
    if (typed === null || this.textarea.disabled || this.textarea.readOnly) {
      this.close();
      return;
    }
    const q = typed.toLowerCase();
    const starts = [];
    const contains = [];
    for (const item of this.items) {
      const s = item.shortcut.toLowerCase();
      if (s.startsWith(q)) starts.push(item);
      else if (q && (s.includes(q) || item.text.toLowerCase().includes(q))) contains.push(item);
    }
    const matches = starts.concat(contains);
    const before = this.matches[this.selected];
    this.matches = matches;
    const keep = before ? matches.indexOf(before) : -1;
    this.selected = keep >= 0 ? keep : 0;
    this.render();
  }

  render() {
    const popup = this.popup;
    popup.textContent = "";
    if (!this.matches.length) {
      if (!this.items.length) {
        this.close();
        return;
      }
      popup.appendChild(el("div", "ac-canned-empty", t("cannedEmpty")));
    }
    this.matches.forEach((item, i) => {
      const row = el("div", "ac-canned-item");
      row.setAttribute("role", "option");
      row.setAttribute("data-testid", "canned-item");
      row.setAttribute("data-index", String(i));
      row.setAttribute("data-shortcut", item.shortcut);
      row.id = `ac-canned-${i}`;
      const on = i === this.selected;
      row.setAttribute("aria-selected", on ? "true" : "false");
      row.classList.toggle("ac-canned-selected", on);
      row.appendChild(el("span", "ac-canned-shortcut", "/" + item.shortcut));
      row.appendChild(el("span", "ac-canned-text", item.text));
      popup.appendChild(row);
    });
    popup.hidden = false;
    this.textarea.setAttribute("aria-expanded", "true");
    if (this.matches.length) this.textarea.setAttribute("aria-activedescendant", `ac-canned-${this.selected}`);
    const current = popup.querySelector(".ac-canned-selected");
    if (current && typeof current.scrollIntoView === "function") current.scrollIntoView({ block: "nearest" });
  }

  close() {
    if (this.popup.hidden) return;
    this.popup.hidden = true;
    this.popup.textContent = "";
    this.matches = [];
    this.selected = 0;
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.removeAttribute("aria-activedescendant");
  }

  /** Keyboard inside the composer while the popup is open; true if handled. */
  handleKey(event) {
    if (!this.isOpen) return false;
    const n = this.matches.length;
    switch (event.key) {
      case "ArrowDown":
        if (!n) return false;
        this.selected = (this.selected + 1) % n;
        this.render();
        return true;
      case "ArrowUp":
        if (!n) return false;
        this.selected = (this.selected + n - 1) % n;
        this.render();
        return true;
      case "Enter":
      case "Tab":
        if (event.shiftKey || event.isComposing || event.keyCode === 229 || !n) return false;
        this.insert(this.matches[this.selected]);
        return true;
      case "Escape":
        this.close();
        return true;
      default:
        return false;
    }
  }

  /** Replaces "/shortcut" at the start with the response text. */
  insert(item) {
    if (!item) return;
    const ta = this.textarea;
    const m = /^\/[^\s/]*/.exec(ta.value);
    const end = m ? m[0].length : 0;
    const rest = ta.value.slice(end);
    ta.value = item.text + rest;
    const caret = item.text.length;
    ta.setSelectionRange(caret, caret);
    this.close();
    ta.focus();
    this.onInsert();
  }
}
