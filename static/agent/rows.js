// Conversation rows: the client-side store of every ConversationRow the
// console knows, the tab rules (which row belongs in which tab, in which
// order), and the DOM of one row in the list.

import { t } from "./i18n.js";
import { avatar, dots, el, parseDate, relativeTime, shortDuration } from "./dom.js";

export const TABS = ["waiting", "mine", "bot", "closed"];

const time = (iso) => {
  const d = parseDate(iso);
  return d ? d.getTime() : 0;
};

/** Does `row` belong in `tab` for the agent `meId`? */
export function inTab(tab, row, meId) {
  if (!row) return false;
  switch (tab) {
    case "waiting":
      return row.state === "waiting";
    case "mine":
      return (
        !!row.assigned_agent &&
        row.assigned_agent.id === meId &&
        (row.state === "waiting" || row.state === "human")
      );
    case "bot":
      return row.state === "bot";
    case "closed":
      return row.state === "closed";
    default:
      return false;
  }
}

/** Waiting: longest waiting first. Every other tab: most recent activity first. */
export function compareFor(tab) {
  if (tab === "waiting") {
    return (a, b) => {
      const wa = time(a.waiting_since || a.last_activity_at);
      const wb = time(b.waiting_since || b.last_activity_at);
      return wa - wb || a.id - b.id;
    };
  }
  return (a, b) => {
    const la = time(a.last_activity_at || (a.last_message && a.last_message.created_at) || a.created_at);
    const lb = time(b.last_activity_at || (b.last_message && b.last_message.created_at) || b.created_at);
    return lb - la || b.id - a.id;
  };
}

/**
 * Every row the console knows, newest version wins. Each change gets a
 * stamp, so a list fetched over HTTP does not overwrite a row that a
 * `conversation.updated` frame changed while the fetch was in flight.
 */
export class RowStore {
  constructor() {
    this.rows = new Map(); // id -> ConversationRow
    this.stamps = new Map(); // id -> stamp of the last live change
    this.clock = 0;
  }

  get(id) {
    return this.rows.get(id) || null;
  }

  /** Current stamp: pass it to replaceTab() for a fetch started now. */
  mark() {
    return this.clock;
  }

  /** A live row (conversation.updated). */
  upsert(row) {
    if (!row || !Number.isInteger(row.id)) return;
    this.clock += 1;
    this.rows.set(row.id, row);
    this.stamps.set(row.id, this.clock);
  }

  /** A row from a detail fetch: only if nothing fresher arrived meanwhile. */
  offer(row, since) {
    if (!row || !Number.isInteger(row.id)) return;
    if ((this.stamps.get(row.id) || 0) > since) return;
    this.rows.set(row.id, row);
  }

  /**
   * The full (unsearched) list of `tab` as fetched at stamp `since`: rows in
   * the answer are stored; rows the store had in that tab but the answer
   * lacks (and nothing updated live since) left the tab while we were not
   * looking, and are dropped until another fetch or frame brings them back.
   */
  replaceTab(tab, rows, since, meId) {
    const seen = new Set();
    for (const row of rows) {
      if (!row || !Number.isInteger(row.id)) continue;
      seen.add(row.id);
      this.offer(row, since);
    }
    for (const [id, row] of this.rows) {
      if (seen.has(id) || !inTab(tab, row, meId)) continue;
      if ((this.stamps.get(id) || 0) > since) continue;
      this.rows.delete(id);
      this.stamps.delete(id);
    }
  }

  /** Rows of `tab`, sorted by the tab's rule. */
  list(tab, meId) {
    const out = [];
    for (const row of this.rows.values()) if (inTab(tab, row, meId)) out.push(row);
    return out.sort(compareFor(tab));
  }

  count(tab, meId) {
    let n = 0;
    for (const row of this.rows.values()) if (inTab(tab, row, meId)) n += 1;
    return n;
  }

  /** Unread messages that need this agent: the queue and their own conversations. */
  unreadTotal(meId, except) {
    let n = 0;
    for (const row of this.rows.values()) {
      if (row.id === except) continue;
      if (inTab("waiting", row, meId) || inTab("mine", row, meId)) n += Math.max(0, Number(row.unread) || 0);
    }
    return n;
  }
}

/** Does the row match a search typed in the box (for rows that arrive live)? */
export function matchesQuery(row, q) {
  const needle = String(q || "").trim().toLowerCase();
  if (!needle) return true;
  const v = row.visitor || {};
  const hay = [v.name, v.email, row.last_message && row.last_message.text]
    .map((s) => String(s || "").toLowerCase())
    .join("\n");
  return hay.includes(needle);
}

function authorPrefix(row, meId) {
  const m = row.last_message;
  if (!m) return "";
  if (m.author === "bot") return t("bot") + ": ";
  if (m.author === "agent") {
    return row.assigned_agent && row.assigned_agent.id === meId ? t("you") + ": " : "";
  }
  return "";
}

/**
 * One row of the list (a button):
 *   .ac-row-top    name, verified badge, relative time
 *   .ac-row-bottom preview, unread badge, assigned agent initials
 *   .ac-row-meta   "Bot is replying…" while a reply streams, waiting time (Waiting tab), site name
 */
export function buildRow() {
  const node = el("button", "ac-row");
  node.type = "button";
  node.setAttribute("data-testid", "conversation-row");
  const top = el("span", "ac-row-top");
  top.appendChild(el("span", "ac-row-name"));
  top.appendChild(el("time", "ac-row-time"));
  const bottom = el("span", "ac-row-bottom");
  const preview = el("span", "ac-row-preview-wrap");
  preview.appendChild(el("span", "ac-row-author"));
  preview.appendChild(el("span", "ac-row-preview"));
  bottom.appendChild(preview);
  const unread = el("span", "unread");
  unread.setAttribute("data-testid", "unread");
  bottom.appendChild(unread);
  bottom.appendChild(el("span", "ac-row-agent"));
  const meta = el("span", "ac-row-meta");
  const replying = el("span", "ac-row-replying");
  replying.setAttribute("data-testid", "row-replying");
  replying.hidden = true;
  replying.append(dots(), el("span", "ac-row-replying-label", t("botReplying")));
  meta.appendChild(replying);
  const waiting = el("span", "ac-waiting");
  waiting.setAttribute("data-testid", "waiting-time");
  meta.appendChild(waiting);
  meta.appendChild(el("span", "ac-row-site"));
  const csat = el("span", "ac-csat-badge");
  csat.setAttribute("data-testid", "row-csat");
  csat.hidden = true;
  meta.appendChild(csat);
  node.append(top, bottom, meta);
  return node;
}

/** Fills a row node from `row` (idempotent; cheap enough for every update). */
export function fillRow(node, row, tab, meId) {
  const v = row.visitor || {};
  node.setAttribute("data-conversation-id", String(row.id));
  node.setAttribute("data-state", row.state || "");
  node.querySelector(".ac-row-name").textContent = v.name || t("visitor");
  // Only present when verified: a hidden badge would still be in the row's text.
  const badge = node.querySelector(".ac-verified");
  if (v.verified && !badge) {
    const b = el("span", "ac-badge ac-verified", t("verified"));
    b.setAttribute("data-testid", "verified-badge");
    node.querySelector(".ac-row-name").after(b);
  } else if (!v.verified && badge) badge.remove();
  const last = row.last_message;
  node.querySelector(".ac-row-author").textContent = authorPrefix(row, meId);
  node.querySelector(".ac-row-preview").textContent = last && last.text ? last.text : t("noPreview");
  node.classList.toggle("ac-row-empty", !(last && last.text));
  const unread = Math.max(0, Number(row.unread) || 0);
  const unreadBadge = node.querySelector(".unread");
  unreadBadge.textContent = unread ? String(unread) : "";
  unreadBadge.hidden = unread === 0;
  unreadBadge.setAttribute("aria-label", t("unreadCount", { n: unread }));
  node.classList.toggle("ac-row-unread", unread > 0);
  const agentSlot = node.querySelector(".ac-row-agent");
  agentSlot.textContent = "";
  if (row.assigned_agent) {
    const a = avatar(row.assigned_agent, "ac-avatar-sm");
    a.setAttribute("data-testid", "row-agent");
    a.removeAttribute("aria-hidden");
    a.setAttribute("aria-label", t("assignedTo", { name: row.assigned_agent.name || "" }));
    agentSlot.appendChild(a);
  }
  node.querySelector(".ac-row-site").textContent = row.site_name || "";
  const csatBadge = node.querySelector(".ac-csat-badge");
  const rating = row.csat ? Number(row.csat.rating) : 0;
  csatBadge.hidden = !rating;
  csatBadge.textContent = rating ? `★ ${rating}` : "";
  csatBadge.setAttribute("data-rating", rating ? String(rating) : "");
  if (rating) csatBadge.title = t("csatRated", { n: rating });
  node.dataset.tab = tab;
  node._row = row;
  refreshTimes(node);
}

/** Shows or hides the row's "Bot is replying…" (a reply is streaming in it). */
export function setReplying(node, on) {
  const mark = node.querySelector(".ac-row-replying");
  if (mark.hidden === !on) return;
  mark.hidden = !on;
  node.toggleAttribute("data-replying", on);
}

/** Relative time and waiting time; called again every 30 s. */
export function refreshTimes(node) {
  const row = node._row;
  if (!row) return;
  const when = (row.last_message && row.last_message.created_at) || row.last_activity_at || row.created_at;
  const timeNode = node.querySelector(".ac-row-time");
  timeNode.textContent = relativeTime(when);
  if (when) timeNode.setAttribute("datetime", when);
  const waiting = node.querySelector(".ac-waiting");
  const since = parseDate(row.waiting_since);
  if (node.dataset.tab === "waiting" && row.state === "waiting" && since) {
    const ms = Date.now() - since.getTime();
    const label = ms < 60000 ? t("minutes", { n: "<1" }) : shortDuration(ms);
    waiting.textContent = t("waitingFor", { time: label });
    waiting.hidden = false;
    // Past 5 minutes the wait is shown as urgent.
    node.classList.toggle("ac-row-late", Date.now() - since.getTime() > 5 * 60000);
  } else {
    waiting.textContent = "";
    waiting.hidden = true;
    node.classList.remove("ac-row-late");
  }
}
