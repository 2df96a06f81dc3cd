// Getting the agent's attention: a short WebAudio beep (no audio files),
// browser notifications once permitted, the unread count in the tab title,
// and toasts.

import { t } from "./i18n.js";
import { el } from "./dom.js";

const TOAST_FOR = 6000;

export class Notifier {
  /**
   * @param {{enable: HTMLButtonElement, toasts: HTMLElement}} ui
   * @param {{onOpen: (id: number) => void}} deps
   */
  constructor(ui, deps) {
    this.ui = ui;
    this.onOpen = deps.onOpen;
    this.audio = null;
    this.baseTitle = document.title;
    this.unread = 0;

    ui.enable.addEventListener("click", () => this.requestPermission());
    this.renderEnable();
    // Browsers only let audio start after a user gesture: warm the context up
    // on the first click or key press so the first ring is heard.
    const unlock = () => {
      this.context();
      window.removeEventListener("pointerdown", unlock, true);
      window.removeEventListener("keydown", unlock, true);
    };
    window.addEventListener("pointerdown", unlock, true);
    window.addEventListener("keydown", unlock, true);
  }

  setBaseTitle(title) {
    this.baseTitle = title;
    this.renderTitle();
  }

  // --- sound ------------------------------------------------------------------------

  context() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    try {
      if (!this.audio) this.audio = new Ctx();
      if (this.audio.state === "suspended") this.audio.resume().catch(() => {});
    } catch (e) {
      this.audio = null;
    }
    return this.audio;
  }

  /** Two short tones: an OscillatorNode through a gain envelope. */
  beep() {
    const ctx = this.context();
    if (!ctx) return;
    try {
      const now = ctx.currentTime;
      [
        [880, 0],
        [1175, 0.14],
      ].forEach(([freq, at]) => {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = "sine";
        osc.frequency.setValueAtTime(freq, now + at);
        gain.gain.setValueAtTime(0.0001, now + at);
        gain.gain.exponentialRampToValueAtTime(0.18, now + at + 0.015);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.12);
        osc.connect(gain);
        gain.connect(ctx.destination);
        osc.start(now + at);
        osc.stop(now + at + 0.13);
      });
    } catch (e) {
      /* no sound is not worth an error */
    }
  }

  // --- browser notifications ---------------------------------------------------------

  get supported() {
    return typeof window.Notification === "function";
  }

  renderEnable() {
    this.ui.enable.hidden = !this.supported || Notification.permission !== "default";
  }

  requestPermission() {
    if (!this.supported) return;
    const done = () => this.renderEnable();
    try {
      const result = Notification.requestPermission(done);
      if (result && typeof result.then === "function") result.then(done, done);
    } catch (e) {
      done();
    }
  }

  /** A `notify` frame: ring, and show a system notification when allowed. */
  notify(frame) {
    this.beep();
    if (!this.supported || Notification.permission !== "granted") return;
    const title = frame.kind === "waiting" ? t("newWaiting") : t("newMessage");
    try {
      const n = new Notification(title, {
        body: String(frame.text || ""),
        tag: `helpdesk-${frame.conversation_id}`,
      });
      n.onclick = () => {
        window.focus();
        if (Number.isInteger(frame.conversation_id)) this.onOpen(frame.conversation_id);
        n.close();
      };
    } catch (e) {
      /* e.g. Android Chrome only allows notifications from a service worker */
    }
  }

  // --- title & toasts ---------------------------------------------------------------

  setUnread(n) {
    this.unread = n;
    this.renderTitle();
  }

  renderTitle() {
    document.title = this.unread > 0 ? `(${this.unread}) ${this.baseTitle}` : this.baseTitle;
  }

  toast(text, kind) {
    const node = el("div", "ac-toast", text);
    node.setAttribute("data-testid", "toast");
    node.setAttribute("role", kind === "error" ? "alert" : "status");
    if (kind) node.setAttribute("data-kind", kind);
    const remove = () => node.remove();
    node.addEventListener("click", remove);
    this.ui.toasts.appendChild(node);
    // At most four on screen.
    while (this.ui.toasts.children.length > 4) this.ui.toasts.firstChild.remove();
    setTimeout(remove, TOAST_FOR);
  }
}
