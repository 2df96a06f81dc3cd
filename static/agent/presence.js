// Presence: this agent's status selector (online / away) and the "Team"
// list with a status dot per agent, kept live by `presence` frames.

import { t } from "./i18n.js";
import { avatar, clear, el } from "./dom.js";

const RANK = { online: 0, away: 1, offline: 2 };

export class Presence {
  /**
   * @param {{team: HTMLElement, status: HTMLSelectElement, meName: HTMLElement, meAvatar: HTMLElement}} ui
   * @param {{send: (frame: object) => boolean, me: object}} deps me: the AgentRow from the page config
   */
  constructor(ui, deps) {
    this.ui = ui;
    this.sendFrame = deps.send;
    this.me = deps.me || {};
    this.agents = new Map(); // id -> AgentRow
    this.chosen = null; // the status this agent picked in this page, if any
    if (Number.isInteger(this.me.id)) this.agents.set(this.me.id, this.me);
    ui.status.addEventListener("change", () => {
      const status = ui.status.value === "away" ? "away" : "online";
      this.chosen = status;
      this.sendFrame({ type: "status", status });
      this.update(Object.assign({}, this.me, { status }));
    });
    this.render();
  }

  /** `hello`: who I am and the whole team. Re-applies a status picked before a reconnect. */
  hello(agent, agents) {
    if (agent && Number.isInteger(agent.id)) this.me = agent;
    this.agents.clear();
    for (const a of Array.isArray(agents) ? agents : []) if (a && Number.isInteger(a.id)) this.agents.set(a.id, a);
    if (Number.isInteger(this.me.id)) this.agents.set(this.me.id, this.me);
    if (this.chosen && this.chosen !== this.me.status) {
      this.sendFrame({ type: "status", status: this.chosen });
      this.me = Object.assign({}, this.me, { status: this.chosen });
      this.agents.set(this.me.id, this.me);
    }
    this.render();
  }

  /** `presence`: one agent's status changed. */
  update(agent) {
    if (!agent || !Number.isInteger(agent.id)) return;
    const merged = Object.assign({}, this.agents.get(agent.id) || {}, agent);
    this.agents.set(agent.id, merged);
    if (agent.id === this.me.id) this.me = merged;
    this.render();
  }

  get meId() {
    return this.me.id;
  }

  render() {
    const ui = this.ui;
    ui.meName.textContent = this.me.name || "";
    clear(ui.meAvatar);
    ui.meAvatar.appendChild(avatar(this.me));
    ui.meAvatar.setAttribute("data-status", this.me.status || "offline");
    const status = this.me.status === "away" ? "away" : "online";
    if (document.activeElement !== ui.status) ui.status.value = status;
    ui.status.setAttribute("data-status", status);

    const list = Array.from(this.agents.values()).sort(
      (a, b) => (RANK[a.status] ?? 3) - (RANK[b.status] ?? 3) || String(a.name).localeCompare(String(b.name)),
    );
    clear(ui.team);
    for (const agent of list) {
      const li = el("li", "ac-team-member");
      li.setAttribute("data-testid", "team-member");
      li.setAttribute("data-agent-id", String(agent.id));
      li.setAttribute("data-status", agent.status || "offline");
      const dot = el("span", "ac-dot");
      dot.setAttribute("data-status", agent.status || "offline");
      dot.setAttribute("aria-hidden", "true");
      li.appendChild(dot);
      li.appendChild(el("span", "ac-team-name", agent.name || ""));
      if (agent.id === this.me.id) li.appendChild(el("span", "ac-muted", t("me")));
      li.title = `${agent.name || ""} — ${t("status_" + (agent.status || "offline"))}`;
      ui.team.appendChild(li);
    }
  }
}
