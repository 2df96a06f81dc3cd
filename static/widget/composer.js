// The message box: Enter to send (Shift+Enter for a newline, IME-safe),
// auto-growing height, and the visitor's typing signal for agents.

const TYPING_EVERY = 400; // ms between typing frames while typing
const TYPING_IDLE = 2000; // ms of no input before "stopped typing"

export class Composer {
  /**
   * @param {HTMLFormElement} form
   * @param {HTMLTextAreaElement} textarea
   * @param {{maxLength: number, sendTyping: (frame: object) => boolean, onSubmit: (text: string) => void,
   *          canSubmit?: (text: string) => boolean}} options
   *   sendTyping returns false when the frame could not be sent (offline); canSubmit
   *   decides whether this text (maybe empty, with files attached) may be sent now.
   */
  constructor(form, textarea, { maxLength, sendTyping, onSubmit, canSubmit }) {
    this.form = form;
    this.textarea = textarea;
    this.maxLength = maxLength;
    this.sendTypingFrame = sendTyping;
    this.onSubmit = onSubmit;
    this.canSubmit = canSubmit || ((text) => !!text);
    this.typingActive = false;
    this.typingSentAt = 0;
    this.trailing = null;
    this.idle = null;

    textarea.maxLength = maxLength;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
      textarea.focus();
    });
    // The page renders the button disabled: a click before this handler existed would
    // submit the form natively (the CSP blocks it) and the text would be lost.
    for (const button of form.querySelectorAll('button[type="submit"]')) button.disabled = false;
    textarea.addEventListener("keydown", (event) => {
      // isComposing / 229: this Enter confirms an IME candidate (Chinese,
      // Japanese input), it is not a send.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        this.submit();
      }
    });
    textarea.addEventListener("input", () => this.onInput());
    textarea.addEventListener("blur", () => {
      if (!textarea.value.trim()) this.stopTyping();
    });
  }

  focus() {
    this.textarea.focus();
  }

  submit() {
    const text = this.textarea.value.trim();
    if (!this.canSubmit(text)) return;
    this.stopTyping();
    this.textarea.value = "";
    this.autoGrow();
    this.onSubmit(text.slice(0, this.maxLength));
  }

  autoGrow() {
    // CSSOM writes are allowed by the page's CSP (style attributes are not).
    const c = this.textarea;
    c.style.height = "auto";
    c.style.height = `${Math.min(c.scrollHeight, 140)}px`;
  }

  onInput() {
    this.autoGrow();
    if (!this.textarea.value.trim()) {
      this.stopTyping();
      return;
    }
    const wait = this.typingSentAt + TYPING_EVERY - Date.now();
    if (wait <= 0) this.sendTyping();
    // Trailing send so the agents' live preview ends on what was really typed.
    else if (!this.trailing) this.trailing = setTimeout(() => this.sendTyping(), wait);
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stopTyping(), TYPING_IDLE);
  }

  sendTyping() {
    this.trailing = null;
    const text = this.textarea.value;
    if (!text.trim()) return;
    if (this.sendTypingFrame({ type: "typing", active: true, text: text.slice(0, this.maxLength) })) {
      this.typingActive = true;
      this.typingSentAt = Date.now();
    }
  }

  stopTyping() {
    clearTimeout(this.trailing);
    clearTimeout(this.idle);
    this.trailing = this.idle = null;
    if (this.typingActive) this.sendTypingFrame({ type: "typing", active: false });
    this.typingActive = false;
  }
}
