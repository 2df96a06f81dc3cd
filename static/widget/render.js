// DOM builders for the chat transcript. Message text is untrusted: it only
// ever reaches the page through textContent / text nodes and <a> elements
// whose href has been parsed and checked here. Never innerHTML.

import { t } from "./i18n.js";

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

// Full-width CJK punctuation ends a URL too: Chinese text rarely puts a space
// between a link and the following "。".
const URL_RE = /https?:\/\/[^\s<>"'\u3000-\u303f\uff00-\uffef]+/g;
const TRAILING = ".,)!?;:]";

function trimUrl(raw) {
  let url = raw;
  while (url && TRAILING.includes(url[url.length - 1])) {
    const last = url[url.length - 1];
    // Keep a closing paren that belongs to the URL (wiki/Foo_(bar)).
    if (last === ")" && url.split("(").length > url.split(")").length - 1) break;
    url = url.slice(0, -1);
  }
  return url;
}

function safeHref(candidate) {
  try {
    const u = new URL(candidate);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (e) {
    return null;
  }
}

/** Appends `text` to `parent` as text nodes, with http(s) URLs as links. */
export function appendLinkified(parent, text) {
  let pos = 0;
  for (const match of text.matchAll(URL_RE)) {
    const url = trimUrl(match[0]);
    const href = url && safeHref(url);
    if (!href) continue;
    if (match.index > pos) parent.appendChild(document.createTextNode(text.slice(pos, match.index)));
    const a = document.createElement("a");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    a.textContent = url;
    parent.appendChild(a);
    pos = match.index + url.length;
  }
  if (pos < text.length) parent.appendChild(document.createTextNode(text.slice(pos)));
}

/** Replaces the contents of a bubble's .hd-text. Visitor text is never linkified. */
export function setText(textEl, text, author) {
  textEl.textContent = "";
  const value = String(text == null ? "" : text);
  if (author === "visitor") textEl.textContent = value;
  else appendLinkified(textEl, value);
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
  bubble.appendChild(text);
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
  setText(node.querySelector(".hd-text"), message.text, message.author);
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
