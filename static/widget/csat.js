// The rating prompt shown when a conversation closes (`csat.request`): five
// stars, an optional comment, "Email me the transcript", a thanks state, and
// a dismiss button. Frames and answers are in docs/protocol.md.

import { t } from "./i18n.js";

// Error codes the server answers a `csat` / `transcript.email` frame with.
const CSAT_ERRORS = new Set(["invalid_rating", "not_closed", "already_rated"]);
const TRANSCRIPT_ERRORS = new Set(["invalid_email", "email_required"]);

export class RatingPrompt {
  /**
   * @param {HTMLElement} root the [data-testid=csat] section
   * @param {{send: (frame: object) => boolean, onDismiss: (id: number) => void,
   *          change: (fn: () => void) => void}} deps
   */
  constructor(root, deps) {
    this.root = root;
    this.send = deps.send;
    this.onDismiss = deps.onDismiss;
    this.change = deps.change;
    const q = (id) => root.querySelector(`[data-testid="${id}"]`);
    this.ui = {
      form: q("csat-form"),
      stars: Array.from(root.querySelectorAll(".hd-star")),
      starLabel: root.querySelector(".hd-star-label"),
      comment: q("csat-comment"),
      submit: q("csat-submit"),
      thanks: q("csat-thanks"),
      error: q("csat-error"),
      dismiss: q("csat-dismiss"),
      transcriptForm: q("transcript-form"),
      email: q("transcript-email"),
      transcriptSend: q("transcript-send"),
      transcriptStatus: q("transcript-status"),
    };
    this.conversationId = null;
    this.rating = 0;
    this.emailHint = "";
    this.pending = null; // "csat" | "transcript": which frame the next error answers

    this.ui.stars.forEach((star) => {
      star.addEventListener("click", () => this.choose(Number(star.getAttribute("data-rating"))));
    });
    // Arrow keys move between stars, as in any radio group.
    this.root.querySelector(".hd-stars").addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 }[event.key];
      if (!step) return;
      event.preventDefault();
      const next = Math.min(5, Math.max(1, (this.rating || 0) + step));
      this.choose(next);
      this.ui.stars[next - 1].focus();
    });
    this.ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.ui.transcriptForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.requestTranscript();
    });
    this.ui.dismiss.addEventListener("click", () => {
      const id = this.conversationId;
      this.hide();
      if (id !== null) this.onDismiss(id);
    });
    this.localize();
  }

  get visible() {
    return !this.root.hidden;
  }

  /** Labels that depend on the language (called again when it changes). */
  localize() {
    this.ui.stars.forEach((star, index) => {
      const label = `${t("csatStarOf", { n: index + 1 })} · ${t("csatStar" + (index + 1))}`;
      star.querySelector(".hd-sr").textContent = label;
      star.title = t("csatStar" + (index + 1));
    });
    this.renderStars();
    this.renderTranscriptButton();
  }

  /** csat.request: ask for this conversation (a fresh prompt unless it is the one shown). */
  show(request) {
    const id = request.conversation_id;
    if (!Number.isInteger(id)) return;
    this.emailHint = typeof request.email_hint === "string" ? request.email_hint : "";
    if (this.conversationId !== id) {
      this.conversationId = id;
      this.rating = 0;
      this.ui.comment.value = "";
      this.ui.email.value = "";
      this.ui.form.hidden = false;
      this.ui.thanks.hidden = true;
      this.ui.transcriptStatus.hidden = true;
      this.ui.transcriptForm.hidden = false;
      this.ui.submit.textContent = t("csatSubmit");
      this.setError("");
    }
    this.renderStars();
    this.renderTranscriptButton();
    this.change(() => {
      this.root.hidden = false;
    });
  }

  hide() {
    this.root.hidden = true;
    this.conversationId = null;
    this.pending = null;
  }

  choose(rating) {
    if (!(rating >= 1 && rating <= 5)) return;
    this.rating = rating;
    this.setError("");
    this.renderStars();
  }

  renderStars() {
    this.ui.stars.forEach((star, index) => {
      const on = index < this.rating;
      star.classList.toggle("hd-star-on", on);
      star.setAttribute("aria-checked", index + 1 === this.rating ? "true" : "false");
      star.tabIndex = index + 1 === (this.rating || 1) ? 0 : -1;
    });
    this.ui.starLabel.textContent = this.rating ? t("csatStar" + this.rating) : "";
    this.ui.submit.disabled = !this.rating;
  }

  renderTranscriptButton() {
    // With an address on file the field is optional: its placeholder says which one is used.
    this.ui.transcriptSend.textContent = t("transcriptSend");
    this.ui.email.placeholder = this.emailHint
      ? t("transcriptUseSaved", { email: this.emailHint })
      : t("transcriptEmail");
  }

  submit() {
    if (this.conversationId === null || !this.rating) return;
    const frame = { type: "csat", conversation_id: this.conversationId, rating: this.rating };
    const comment = this.ui.comment.value.trim();
    if (comment) frame.comment = comment;
    if (!this.send(frame)) return;
    this.pending = "csat";
    this.ui.submit.disabled = true;
    this.ui.submit.textContent = t("csatSending");
  }

  /** csat.ack: thanks; the stars stay editable until the server's window closes. */
  saved(ack) {
    if (ack.conversation_id !== this.conversationId) return;
    this.pending = null;
    const csat = ack.csat || {};
    this.rating = Number(csat.rating) || this.rating;
    this.renderStars();
    this.ui.submit.textContent = t("csatUpdate");
    this.change(() => {
      this.ui.thanks.textContent = t("csatThanks");
      this.ui.thanks.hidden = false;
    });
  }

  requestTranscript() {
    if (this.conversationId === null) return;
    const email = this.ui.email.value.trim();
    if (!email && !this.emailHint) {
      this.setTranscriptStatus(t("transcriptInvalid"), true);
      this.ui.email.focus();
      return;
    }
    const frame = { type: "transcript.email", conversation_id: this.conversationId };
    if (email) frame.email = email;
    if (!this.send(frame)) return;
    this.pending = "transcript";
    this.ui.transcriptSend.disabled = true;
  }

  /** transcript.queued */
  queued(event) {
    if (event.conversation_id !== this.conversationId) return;
    this.pending = null;
    this.ui.transcriptSend.disabled = false;
    this.emailHint = event.email_hint || this.emailHint;
    this.ui.email.value = "";
    this.renderTranscriptButton();
    this.setTranscriptStatus(t("transcriptQueued", { email: event.email_hint || "" }), false);
  }

  /** An `error` with no client_id: true if it answered one of our frames. */
  error(event) {
    if (!this.visible || !this.pending) return false;
    const code = String(event.code || "");
    const mine =
      this.pending === "csat"
        ? CSAT_ERRORS.has(code) || code === "too_long" || code === "not_found" || code === "invalid_field"
        : TRANSCRIPT_ERRORS.has(code) || ["rate_limited", "not_found", "empty", "unavailable"].includes(code);
    if (!mine) return false;
    const detail = String(event.detail || code);
    if (this.pending === "csat") {
      this.ui.submit.disabled = !this.rating;
      this.ui.submit.textContent = t("csatSubmit");
      if (code === "already_rated" || code === "not_found") this.ui.form.hidden = true;
      this.setError(detail);
    } else {
      this.ui.transcriptSend.disabled = false;
      this.setTranscriptStatus(detail, true);
    }
    this.pending = null;
    return true;
  }

  setError(text) {
    this.ui.error.textContent = text;
    this.ui.error.hidden = !text;
  }

  setTranscriptStatus(text, isError) {
    const node = this.ui.transcriptStatus;
    node.textContent = text;
    node.hidden = !text;
    node.classList.toggle("hd-transcript-error", !!isError);
  }
}
