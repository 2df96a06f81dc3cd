// The header of the middle pane: who, state, assignee, and the actions
// (take over, hand back, transfer, close), with the transfer dialog.

import { t } from "./i18n.js";
import { avatar, clear, el } from "./dom.js";

export class ConversationHeader {
  /**
   * @param {Document|HTMLElement} root holds the header (.ac-conv-head) and the transfer dialog
   * @param {{api, send: (frame: object) => boolean, me: () => number, toast: (text: string) => void,
   *          onBack: () => void, onTogglePanel: () => void}} deps
   */
  constructor(root, deps) {
    const q = (id) => root.querySelector(`[data-testid="${id}"]`);
    const ui = {
      root: root.querySelector(".ac-conv-head"),
      name: q("conversation-name"),
      pill: q("state-pill"),
      assignee: q("assignee"),
      sub: root.querySelector(".ac-conv-sub"),
      readOnlyBadge: q("read-only"),
      back: q("back-to-conversation"),
      takeover: q("takeover"),
      handback: q("handback"),
      transfer: q("transfer"),
      close: q("close-conversation"),
      csat: q("conversation-csat"),
      csatStars: root.querySelector(".ac-csat-stars"),
      csatScore: q("csat-score"),
      csatComment: q("csat-comment"),
      emailTranscript: q("email-transcript"),
      exportMenu: q("export"),
      exportLinks: Array.from(root.querySelectorAll(".ac-export-link")),
      togglePanel: q("toggle-visitor-panel"),
      transferDialog: q("transfer-dialog"),
      transferForm: root.querySelector(".ac-transfer-form"),
      transferAgent: q("transfer-agent"),
      transferNote: q("transfer-note"),
      transferConfirm: q("transfer-confirm"),
      transferCancel: q("transfer-cancel"),
    };
    this.ui = ui;
    this.api = deps.api;
    this.sendFrame = deps.send;
    this.me = deps.me;
    this.toast = deps.toast;
    this.conversationsBase = String(deps.conversationsBase || "/agent/conversations/").replace(/\/?$/, "/");
    this.visitorEmail = "";
    this.row = null;
    this.readOnly = false;

    ui.takeover.addEventListener("click", () => this.act("takeover", ui.takeover));
    ui.handback.addEventListener("click", () => this.act("handback", ui.handback));
    ui.close.addEventListener("click", () => this.act("close", ui.close));
    ui.transfer.addEventListener("click", () => this.openTransfer());
    ui.emailTranscript.addEventListener("click", () => this.emailTranscript());
    // Choosing a format downloads it; the menu closes behind it.
    for (const link of ui.exportLinks) link.addEventListener("click", () => (ui.exportMenu.open = false));
    ui.back.addEventListener("click", () => deps.onBack());
    ui.togglePanel.addEventListener("click", () => deps.onTogglePanel());
    ui.transferForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.confirmTransfer();
    });
    ui.transferCancel.addEventListener("click", () => this.closeTransfer());
    ui.transferDialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      this.closeTransfer();
    });
  }

  get id() {
    return this.row ? this.row.id : null;
  }

  /** A conversation is shown (readOnly: an earlier conversation of the visitor). */
  show(row, { readOnly = false } = {}) {
    this.row = row;
    this.readOnly = readOnly;
    if (this.ui.transferDialog.open && (!row || row.id !== this.transferFor)) this.closeTransfer();
    this.render();
  }

  /** A fresher row of the shown conversation (conversation.updated). */
  update(row) {
    if (!this.row || !row || row.id !== this.row.id) return;
    this.row = row;
    this.render();
  }

  /** A `csat` event: the visitor rated (or re-rated) the shown conversation. */
  setCsat(conversationId, csat) {
    if (!this.row || this.row.id !== conversationId) return;
    this.row = Object.assign({}, this.row, { csat });
    this.render();
  }

  /** The visitor's address (from the detail), for "Email transcript". */
  setVisitorEmail(email) {
    this.visitorEmail = typeof email === "string" ? email : "";
    this.render();
  }

  /** A `state` event: the owner changed (the assignee follows in conversation.updated). */
  setState(state) {
    if (!this.row) return;
    this.row = Object.assign({}, this.row, { state });
    this.render();
  }

  render() {
    const ui = this.ui;
    const row = this.row;
    ui.root.hidden = !row;
    if (!row) return;
    const v = row.visitor || {};
    ui.name.textContent = v.name || t("visitor");
    // Only in the DOM when verified (a hidden badge would still be in the header's text).
    const badge = ui.root.querySelector(".ac-verified");
    if (v.verified && !badge) {
      const b = el("span", "ac-badge ac-verified", t("verified"));
      b.setAttribute("data-testid", "verified-badge");
      ui.name.after(b);
    } else if (!v.verified && badge) badge.remove();
    ui.pill.textContent = t("state_" + row.state);
    ui.pill.setAttribute("data-state", row.state || "");
    ui.pill.title = row.state || "";
    clear(ui.assignee);
    if (row.assigned_agent) {
      ui.assignee.appendChild(avatar(row.assigned_agent, "ac-avatar-sm"));
      ui.assignee.appendChild(el("span", "", t("assignedTo", { name: row.assigned_agent.name || "" })));
    } else {
      ui.assignee.appendChild(el("span", "", t("unassigned")));
    }
    const bits = [row.site_name, `#${row.id}`];
    if (row.state === "waiting" && row.escalation_reason) bits.push(row.escalation_reason);
    ui.sub.textContent = bits.filter(Boolean).join(" · ");
    ui.readOnlyBadge.hidden = !this.readOnly;
    ui.back.hidden = !this.readOnly;

    const live = !this.readOnly;
    const mine = !!row.assigned_agent && row.assigned_agent.id === this.me();
    ui.takeover.hidden = !(live && (row.state === "bot" || row.state === "waiting"));
    ui.handback.hidden = !(live && row.state === "human" && mine);
    ui.transfer.hidden = !(live && row.state === "human");
    ui.close.hidden = !(live && row.state !== "closed");
    this.renderCsat(row.csat);
    const email = this.visitorEmail || (row.visitor && row.visitor.email) || "";
    ui.emailTranscript.hidden = !email;
    ui.emailTranscript.title = email ? t("emailTranscriptTo", { email }) : "";
    for (const link of ui.exportLinks) {
      const format = link.getAttribute("data-format");
      link.href = `${this.conversationsBase}${encodeURIComponent(row.id)}/export?format=${format}`;
    }
    for (const b of [ui.takeover, ui.handback, ui.close, ui.transfer]) b.disabled = false;
  }

  renderCsat(csat) {
    const ui = this.ui;
    const rating = csat ? Number(csat.rating) : 0;
    ui.csat.hidden = !rating;
    if (!rating) return;
    ui.csatStars.textContent = "★".repeat(rating) + "☆".repeat(5 - rating);
    ui.csat.setAttribute("data-rating", String(rating));
    ui.csatScore.textContent = t("csatScore", { n: rating });
    ui.csatComment.textContent = csat.comment || "";
    ui.csatComment.hidden = !csat.comment;
  }

  /** POST: the server emails the transcript to the visitor's address (rate-limited). */
  async emailTranscript() {
    if (!this.row) return;
    const button = this.ui.emailTranscript;
    const token = document.querySelector("input[name=csrfmiddlewaretoken]");
    button.disabled = true;
    try {
      const response = await fetch(`${this.conversationsBase}${encodeURIComponent(this.row.id)}/transcript/email`, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": token ? token.value : "" },
      });
      const data = await response.json().catch(() => ({}));
      if (response.ok) this.toast(t("transcriptSent", { email: data.email || "" }));
      else this.toast(t("errorPrefix", { detail: data.detail || data.error || response.status }), "error");
    } catch (e) {
      this.toast(t("errorPrefix", { detail: e.message }), "error");
    } finally {
      button.disabled = false;
    }
  }

  /** One action frame; the button stays disabled until the answer re-renders the header. */
  act(type, button) {
    if (!this.row || this.readOnly) return;
    if (!this.sendFrame({ type, conversation_id: this.row.id })) return;
    button.disabled = true;
    const id = this.row.id;
    setTimeout(() => {
      if (this.row && this.row.id === id) button.disabled = false;
    }, 4000);
  }

  // --- transfer ---------------------------------------------------------------------

  async openTransfer() {
    if (!this.row || this.readOnly) return;
    const ui = this.ui;
    this.transferFor = this.row.id;
    ui.transferNote.value = "";
    clear(ui.transferAgent);
    const loading = el("option", "", t("loading"));
    loading.value = "";
    ui.transferAgent.appendChild(loading);
    ui.transferAgent.disabled = true;
    ui.transferConfirm.disabled = true;
    if (typeof ui.transferDialog.showModal === "function") ui.transferDialog.showModal();
    else ui.transferDialog.setAttribute("open", "");
    let agents = [];
    try {
      const data = await this.api.agents();
      agents = Array.isArray(data.agents) ? data.agents : [];
    } catch (e) {
      agents = [];
    }
    if (!ui.transferDialog.open || this.transferFor !== this.id) return;
    clear(ui.transferAgent);
    const others = agents.filter((a) => a && Number.isInteger(a.id) && a.id !== this.me());
    // Online first, then away, then offline; by name within each.
    const rank = { online: 0, away: 1, offline: 2 };
    others.sort((a, b) => (rank[a.status] ?? 3) - (rank[b.status] ?? 3) || String(a.name).localeCompare(String(b.name)));
    for (const agent of others) {
      const option = el("option", "", `${agent.name} — ${t("status_" + (agent.status || "offline"))}`);
      option.value = String(agent.id);
      ui.transferAgent.appendChild(option);
    }
    if (!others.length) {
      const none = el("option", "", t("noAgents"));
      none.value = "";
      ui.transferAgent.appendChild(none);
    }
    ui.transferAgent.disabled = !others.length;
    ui.transferConfirm.disabled = !others.length;
    if (others.length) ui.transferAgent.focus();
  }

  confirmTransfer() {
    const ui = this.ui;
    const agentId = Number(ui.transferAgent.value);
    if (!this.row || !Number.isInteger(agentId) || agentId <= 0) return;
    const frame = { type: "transfer", conversation_id: this.row.id, agent_id: agentId };
    const note = ui.transferNote.value.trim();
    if (note) frame.note = note;
    if (!this.sendFrame(frame)) return;
    this.closeTransfer();
  }

  closeTransfer() {
    const dialog = this.ui.transferDialog;
    if (typeof dialog.close === "function" && dialog.open) dialog.close();
    else dialog.removeAttribute("open");
    this.transferFor = null;
  }
}
