// The reply box: Enter sends (Shift+Enter newline, IME-safe), the internal
// note toggle, the AI suggestion streamed into the textarea (never sent by
// itself), canned responses, per-conversation drafts, and the agent's
// typing signal to the visitor.

import { t } from "./i18n.js";
import { CannedPopup } from "./canned.js";
import { AttachmentTray, uploadFile } from "../widget/attachments.js";

const TYPING_EVERY = 2000; // at most one typing {active:true} per 2 s
const TYPING_IDLE = 3000; // typing {active:false} 3 s after the last key
const MAX_HEIGHT = 200;

export class Composer {
  /**
   * @param {HTMLFormElement} form the .ac-composer form (textarea, buttons and the canned popup inside)
   * @param {{api, send: (frame: object) => boolean, onSubmit: (text: string, internal: boolean) => void,
   *          toast: (text: string) => void}} deps
   */
  constructor(form, deps) {
    const q = (id) => form.querySelector(`[data-testid="${id}"]`);
    const ui = {
      form,
      textarea: q("agent-composer"),
      send: q("agent-send"),
      noteToggle: q("note-toggle"),
      suggest: q("suggest"),
      popup: q("canned-popup"),
      attach: q("agent-attach"),
      fileInput: q("agent-file-input"),
      tray: q("agent-attachment-tray"),
    };
    this.ui = ui;
    this.sendFrame = deps.send;
    this.onSubmit = deps.onSubmit;
    this.toast = deps.toast;
    this.conversationId = null;
    this.siteId = null;
    this.state = null;
    this.readOnly = false;
    this.note = false;
    this.busy = false; // a suggestion is streaming into the textarea
    this.drafts = new Map(); // conversation id -> {text, note}
    this.typingActive = false;
    this.typingSentAt = 0;
    this.idleTimer = null;
    this.busyTimer = null;
    this.canned = new CannedPopup(ui.popup, ui.textarea, { api: deps.api, onInsert: () => this.onInput() });
    this.apiBase = String(deps.apiBase || "/agent/api/").replace(/\/?$/, "/");
    this.tray = new AttachmentTray(ui.tray, { prefix: "ac", label: t, upload: (file, onProgress) => this.upload(file, onProgress) });
    this.wireAttachments();

    const ta = ui.textarea;
    ta.setAttribute("aria-autocomplete", "list");
    ta.setAttribute("aria-expanded", "false");
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    ta.addEventListener("keydown", (event) => {
      if (this.canned.handleKey(event)) {
        event.preventDefault();
        return;
      }
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        this.submit();
      }
    });
    ta.addEventListener("input", () => this.onInput());
    ta.addEventListener("click", () => this.canned.update());
    ta.addEventListener("keyup", (event) => {
      if (event.key === "ArrowLeft" || event.key === "ArrowRight" || event.key === "Home" || event.key === "End") {
        this.canned.update();
      }
    });
    ta.addEventListener("blur", () => {
      if (!ta.value.trim()) this.stopTyping();
    });
    ui.noteToggle.addEventListener("click", () => {
      this.setNote(!this.note);
      ta.focus();
    });
    ui.suggest.addEventListener("click", () => this.requestSuggestion());
    this.render();
  }

  /** Another conversation is shown: keep this one's draft, restore that one's. */
  open(conversation, { readOnly = false } = {}) {
    this.stopTyping();
    this.endBusy();
    this.saveDraft();
    this.conversationId = conversation ? conversation.id : null;
    this.state = conversation ? conversation.state : null;
    this.readOnly = readOnly;
    const draft = (this.conversationId !== null && !readOnly && this.drafts.get(this.conversationId)) || null;
    this.ui.textarea.value = draft ? draft.text : "";
    this.note = draft ? draft.note : false;
    // Uploads belong to the conversation they were made for.
    this.tray.clear();
    this.siteId = conversation && !readOnly ? conversation.site_id : null;
    this.canned.setSite(this.siteId);
    this.autoGrow();
    this.render();
  }

  /** The detail of the shown conversation arrived (state, site). */
  update(row) {
    if (!row || row.id !== this.conversationId) return;
    const site = this.readOnly ? null : row.site_id;
    if (site !== this.siteId) {
      this.siteId = site;
      this.canned.setSite(site);
    }
    this.setState(row.state);
  }

  saveDraft() {
    if (this.conversationId === null || this.readOnly) return;
    const text = this.ui.textarea.value;
    if (text.trim()) this.drafts.set(this.conversationId, { text, note: this.note });
    else this.drafts.delete(this.conversationId);
  }

  setState(state) {
    this.state = state;
    if (state === "closed") {
      this.stopTyping();
      this.endBusy();
    }
    this.render();
  }

  get enabled() {
    return this.conversationId !== null && !this.readOnly && this.state !== "closed";
  }

  setNote(on) {
    this.note = !!on;
    if (this.note) this.stopTyping(); // notes are not "typing" to the visitor
    this.render();
  }

  render() {
    const { form, textarea, send, noteToggle, suggest } = this.ui;
    const enabled = this.enabled;
    form.classList.toggle("ac-composer-note", this.note && enabled);
    form.classList.toggle("ac-composer-busy", this.busy);
    form.setAttribute("data-note", this.note ? "true" : "false");
    textarea.disabled = !enabled;
    textarea.readOnly = this.busy;
    if (this.busy) textarea.setAttribute("aria-busy", "true");
    else textarea.removeAttribute("aria-busy");
    send.disabled = !enabled || this.busy;
    noteToggle.disabled = !enabled;
    this.ui.attach.disabled = !enabled;
    noteToggle.setAttribute("aria-pressed", this.note ? "true" : "false");
    suggest.hidden = !(enabled && this.state === "human");
    suggest.disabled = this.busy;
    suggest.textContent = this.busy ? t("suggesting") : t("suggest");
    send.textContent = this.note ? t("addNote") : t("send");
    const key = this.readOnly
      ? "placeholderReadOnly"
      : this.state === "closed"
        ? "placeholderClosed"
        : this.note
          ? "placeholderNote"
          : "placeholder";
    textarea.placeholder = this.conversationId === null ? "" : t(key);
    textarea.setAttribute("aria-label", t(this.note ? "placeholderNote" : "placeholder"));
    if (!enabled) this.canned.close();
  }

  focus() {
    if (this.enabled) this.ui.textarea.focus();
  }

  autoGrow() {
    // CSSOM writes are allowed by the page's CSP (style attributes are not).
    const ta = this.ui.textarea;
    ta.style.height = "auto";
    ta.style.height = `${Math.min(ta.scrollHeight + 2, MAX_HEIGHT)}px`;
  }

  submit() {
    if (!this.enabled || this.busy) return;
    const text = this.ui.textarea.value.trim();
    const attachments = this.tray.ready();
    // Not while a file is still going up: it would be left behind.
    if (this.tray.busy || (!text && !attachments.length)) return;
    this.canned.close();
    this.stopTyping();
    this.ui.textarea.value = "";
    this.drafts.delete(this.conversationId);
    this.tray.clear();
    this.autoGrow();
    this.onSubmit(text, this.note, attachments);
    this.ui.textarea.focus();
  }

  onInput() {
    this.autoGrow();
    this.canned.update();
    if (!this.enabled || this.note || this.busy) return;
    if (!this.ui.textarea.value.trim()) {
      this.stopTyping();
      return;
    }
    if (Date.now() - this.typingSentAt >= TYPING_EVERY) {
      if (this.sendFrame({ type: "typing", conversation_id: this.conversationId, active: true })) {
        this.typingActive = true;
        this.typingSentAt = Date.now();
      }
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE);
  }

  stopTyping() {
    clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.typingActive && this.conversationId !== null) {
      this.sendFrame({ type: "typing", conversation_id: this.conversationId, active: false });
    }
    this.typingActive = false;
    this.typingSentAt = 0;
  }

  // --- attachments --------------------------------------------------------------------

  upload(file, onProgress) {
    const token = document.querySelector("input[name=csrfmiddlewaretoken]");
    const url = `${this.apiBase}conversations/${encodeURIComponent(this.conversationId)}/attachments`;
    return uploadFile(url, file, { "X-CSRFToken": token ? token.value : "" }, onProgress);
  }

  attach(files) {
    if (!this.enabled || !files || !files.length) return;
    this.tray.add(files);
    this.ui.textarea.focus();
  }

  wireAttachments() {
    const { attach, fileInput, textarea, form } = this.ui;
    attach.addEventListener("click", () => fileInput.click());
    fileInput.addEventListener("change", () => {
      this.attach(fileInput.files);
      fileInput.value = "";
    });
    textarea.addEventListener("paste", (event) => {
      const files = event.clipboardData && event.clipboardData.files;
      if (files && files.length && this.enabled) {
        event.preventDefault();
        this.attach(files);
      }
    });
    form.addEventListener("dragover", (event) => {
      if (this.enabled && event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files")) {
        event.preventDefault();
        form.classList.add("ac-composer-drop");
      }
    });
    form.addEventListener("dragleave", () => form.classList.remove("ac-composer-drop"));
    form.addEventListener("drop", (event) => {
      form.classList.remove("ac-composer-drop");
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      event.preventDefault();
      this.attach(event.dataTransfer.files);
    });
  }

  // --- AI suggestion -----------------------------------------------------------------

  requestSuggestion() {
    if (!this.enabled || this.busy) return;
    if (!this.sendFrame({ type: "suggest", conversation_id: this.conversationId })) return;
    this.startBusy(false);
  }

  /** Busy until suggest.end; a lost end frame must not lock the composer forever. */
  startBusy(clear) {
    this.busy = true;
    if (clear) this.ui.textarea.value = "";
    clearTimeout(this.busyTimer);
    this.busyTimer = setTimeout(() => this.endBusy(), 60000);
    this.stopTyping();
    this.canned.close();
    this.autoGrow();
    this.render();
  }

  endBusy() {
    clearTimeout(this.busyTimer);
    this.busyTimer = null;
    if (!this.busy) return;
    this.busy = false;
    this.render();
  }

  suggestStart(frame) {
    if (frame.conversation_id !== this.conversationId || !this.enabled) return;
    this.setNote(false);
    this.startBusy(true);
  }

  suggestDelta(frame) {
    if (frame.conversation_id !== this.conversationId || !this.busy) return;
    const ta = this.ui.textarea;
    ta.value += String(frame.text || "");
    this.autoGrow();
    ta.scrollTop = ta.scrollHeight;
  }

  suggestEnd(frame) {
    if (frame.conversation_id !== this.conversationId) return;
    const wasBusy = this.busy;
    this.endBusy();
    if (frame.error) this.toast(t("suggestFailed", { error: String(frame.error) }));
    if (wasBusy) {
      const ta = this.ui.textarea;
      ta.focus();
      ta.setSelectionRange(ta.value.length, ta.value.length);
    }
  }

  /** The socket dropped: nothing more will stream. */
  disconnected() {
    this.endBusy();
    this.typingActive = false;
    clearTimeout(this.idleTimer);
  }
}
