// Message bubbles of the agent transcript. AgentMessage text is untrusted:
// built with createElement / textContent only; links only for http(s).
//
//   <div class="ac-msg" data-author data-source [data-message-id] [data-internal]>
//     <div class="ac-meta"><span class="ac-who">Alice</span>
//       <span class="ac-tier" data-testid="tier"><a>KB: question</a> · 412 ms</span>
//       <span class="ac-note-label">Internal note</span></div>
//     <div class="ac-bubble"><div class="ac-text">…</div></div>
//     <div class="ac-foot"><time class="ac-time">12:03</time><span class="ac-status"></span></div>
//   </div>

import { t } from "./i18n.js";
import { el, formatDateTime, formatTime, parseDate, safeLink, setText } from "./dom.js";
import { setAttachments } from "../widget/attachments.js";

/** "12:03" today, "Nov 24, 2026, 12:03" on other days; the full date as tooltip. */
export function stampTime(node, iso) {
  const d = parseDate(iso);
  const today = new Date();
  const sameDay = d && d.toDateString() === today.toDateString();
  node.textContent = d && !sameDay ? formatDateTime(iso) : formatTime(iso);
  if (iso) {
    node.setAttribute("datetime", iso);
    node.title = formatDateTime(iso);
  }
}

function whoLabel(message) {
  switch (message.author) {
    case "agent":
      return message.agent_name || t("someone");
    case "bot":
      return t("bot");
    default:
      return "";
  }
}

/** The tier tag of a bot (or system) message: where the answer came from, and how fast. */
function tierTag(message) {
  const tag = el("span", "ac-tier");
  tag.setAttribute("data-testid", "tier");
  const source = message.source || "";
  tag.setAttribute("data-tier", source);
  if (source === "kb") {
    const entry = message.kb_entry && typeof message.kb_entry === "object" ? message.kb_entry : null;
    const label = entry && entry.question ? `${t("tier_kb")}: ${entry.question}` : t("tier_kb");
    tag.appendChild(entry ? safeLink(entry.admin_url, label, "ac-tier-label") : el("span", "ac-tier-label", label));
  } else {
    const key = { llm: "tier_llm", filter: "tier_filter", system: "tier_system" }[source];
    tag.appendChild(el("span", "ac-tier-label", key ? t(key) : source));
  }
  if (message.latency_ms !== null && message.latency_ms !== undefined && Number.isFinite(Number(message.latency_ms))) {
    tag.appendChild(el("span", "ac-tier-sep", " · "));
    const latency = el("span", "ac-latency", t("latency", { ms: Math.round(Number(message.latency_ms)) }));
    latency.setAttribute("data-testid", "latency");
    tag.appendChild(latency);
  }
  return tag;
}

function fillMeta(node, message) {
  let meta = node.querySelector(".ac-meta");
  if (!meta) {
    meta = el("div", "ac-meta");
    node.prepend(meta);
  }
  meta.textContent = "";
  const who = whoLabel(message);
  if (who) meta.appendChild(el("span", "ac-who", who));
  const automated = message.author === "bot" || message.author === "system";
  if (automated && message.source && Number.isInteger(message.id)) meta.appendChild(tierTag(message));
  if (message.is_internal) {
    const label = el("span", "ac-note-label", t("internalNote"));
    label.setAttribute("data-testid", "internal-label");
    meta.appendChild(label);
  }
  meta.hidden = !meta.firstChild;
}

/**
 * A bubble for `message`, which may be partial (pending or streaming): only
 * author / source / text / created_at / is_internal are required.
 */
export function messageBubble(message) {
  const node = el("div", "ac-msg");
  node.setAttribute("data-author", message.author || "system");
  node.setAttribute("data-source", message.source || message.author || "system");
  if (message.is_internal) node.setAttribute("data-internal", "true");
  node.appendChild(el("div", "ac-meta"));
  const bubble = el("div", "ac-bubble");
  const text = el("div", "ac-text");
  setText(text, message.text, message.author);
  text.hidden = !message.text && Array.isArray(message.attachments) && message.attachments.length > 0;
  bubble.appendChild(text);
  setAttachments(bubble, message.attachments, "ac", t);
  node.appendChild(bubble);
  const foot = el("div", "ac-foot");
  const time = el("time", "ac-time");
  stampTime(time, message.created_at || new Date().toISOString());
  foot.appendChild(time);
  foot.appendChild(el("span", "ac-status"));
  node.appendChild(foot);
  fillMeta(node, message);
  if (Number.isInteger(message.id)) markSaved(node, message);
  return node;
}

/** Turns a pending / streaming bubble into the saved message `message`. */
export function markSaved(node, message) {
  node.setAttribute("data-message-id", String(message.id));
  node.setAttribute("data-author", message.author || node.getAttribute("data-author"));
  node.setAttribute("data-source", message.source || message.author || "system");
  if (message.is_internal) node.setAttribute("data-internal", "true");
  else node.removeAttribute("data-internal");
  node.removeAttribute("data-status");
  node.removeAttribute("data-reply-id");
  if (node.getAttribute("data-testid") === "agent-streaming") node.removeAttribute("data-testid");
  node.removeAttribute("aria-busy");
  const d = node.querySelector(".ac-dots");
  if (d) d.remove();
  if (typeof message.text === "string") setText(node.querySelector(".ac-text"), message.text, message.author);
  if (Array.isArray(message.attachments)) {
    node.querySelector(".ac-text").hidden = !message.text && message.attachments.length > 0;
    setAttachments(node.querySelector(".ac-bubble"), message.attachments, "ac", t);
  }
  fillMeta(node, message);
  if (message.created_at) stampTime(node.querySelector(".ac-time"), message.created_at);
  setStatus(node, "");
  const old = node.querySelector(".ac-interrupted");
  if (old) old.remove();
  if (message.interrupted) node.querySelector(".ac-bubble").appendChild(el("div", "ac-interrupted", t("interrupted")));
}

export function setStatus(node, text) {
  const status = node.querySelector(".ac-status");
  if (status) status.textContent = text;
}
