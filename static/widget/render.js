// DOM builders for the chat transcript. Message text is untrusted: it only
// ever reaches the page through textContent / text nodes and <a> elements
// whose href has been parsed and checked here. Never innerHTML.

import { appendLinkified, setText } from "../shared/text.js";
import { t } from "./i18n.js";
import { setAttachments } from "./attachments.js";

export { appendLinkified, setText };

/** document.createElement with an optional class and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

/** Three animated dots (the "someone is typing" / "reply coming" indicator). */
export function dots() {
  const wrap = el("span", "hd-dots");
  wrap.setAttribute("aria-hidden", "true");
  for (let i = 0; i < 3; i++) wrap.appendChild(el("span"));
  return wrap;
}

// Django sends microseconds ("...05:00:00.123456+00:00"); only milliseconds
// are in the ECMAScript date format, and Safari rejects the longer form.
export function parseDate(iso) {
  if (!iso) return null;
  const d = new Date(String(iso).replace(/(\.\d{3})\d+/, "$1"));
  return Number.isNaN(d.getTime()) ? null : d;
}

export function formatTime(iso) {
  const d = parseDate(iso) || new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function formatDate(iso, lang) {
  const d = parseDate(iso);
  if (!d) return "";
  try {
    return d.toLocaleDateString(lang === "zh" ? "zh-CN" : undefined, {
      year: "numeric",
      month: "short",
      day: "numeric",
    });
  } catch (e) {
    return d.toDateString();
  }
}


function metaLabel(message) {
  if (message.author === "bot") return message.source === "kb" ? t("kb") : t("ai");
  if (message.author === "agent") return message.agent_name || t("someone");
  return "";
}

/**
 * A message bubble:
 *   <div class="hd-msg" data-author data-source [data-message-id]>
 *     <div class="hd-meta"><span class="hd-tag">AI</span></div>
 *     <div class="hd-bubble"><div class="hd-text">…</div></div>
 *     <div class="hd-foot"><time class="hd-time">12:03</time><span class="hd-status"></span></div>
 *   </div>
 * `message` may be partial (pending or streaming): only author/source/text/created_at are read.
 */
export function messageBubble(message) {
  const node = el("div", "hd-msg");
  node.setAttribute("data-author", message.author);
  node.setAttribute("data-source", message.source || message.author);
  if (message.author !== "visitor" && message.author !== "system") {
    const meta = el("div", "hd-meta");
    meta.appendChild(el("span", "hd-tag", metaLabel(message)));
    node.appendChild(meta);
  }
  const bubble = el("div", "hd-bubble");
  const text = el("div", "hd-text");
  setText(text, message.text, message.author);
  text.hidden = !message.text;
  bubble.appendChild(text);
  setAttachments(bubble, message.attachments, "hd", t);
  node.appendChild(bubble);

  const foot = el("div", "hd-foot");
  const time = el("time", "hd-time", formatTime(message.created_at));
  if (message.created_at) time.setAttribute("datetime", message.created_at);
  foot.appendChild(time);
  foot.appendChild(el("span", "hd-status"));
  node.appendChild(foot);
  if (Number.isInteger(message.id)) markSaved(node, message);
  return node;
}

/** Turns a pending / streaming bubble into the saved message `message`. */
export function markSaved(node, message) {
  node.setAttribute("data-message-id", String(message.id));
  node.setAttribute("data-source", message.source || message.author);
  node.removeAttribute("data-status");
  node.removeAttribute("data-testid");
  node.removeAttribute("aria-busy");
  const d = node.querySelector(".hd-dots");
  if (d) d.remove();
  const text = node.querySelector(".hd-text");
  setText(text, message.text, message.author);
  text.hidden = !message.text;
  setAttachments(node.querySelector(".hd-bubble"), message.attachments, "hd", t);
  const tag = node.querySelector(".hd-tag");
  if (tag) tag.textContent = metaLabel(message);
  const time = node.querySelector(".hd-time");
  if (time && message.created_at) {
    time.textContent = formatTime(message.created_at);
    time.setAttribute("datetime", message.created_at);
  }
  setStatus(node, "");
  const oldNote = node.querySelector(".hd-note");
  if (oldNote) oldNote.remove();
  if (message.interrupted) {
    node.querySelector(".hd-bubble").appendChild(el("div", "hd-note", t("interrupted")));
  }
}

export function setStatus(node, text) {
  const status = node.querySelector(".hd-status");
  if (status) status.textContent = text;
}
