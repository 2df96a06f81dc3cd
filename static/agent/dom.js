// DOM helpers of the agent console. Everything that comes from the server or
// from visitors (messages, names, visitor fields, URLs) reaches the page only
// through textContent / text nodes, and <a> elements whose href was parsed
// and checked to be http(s) here. Never innerHTML.

import { appendLinkified, setText } from "../shared/text.js";
import { language, t } from "./i18n.js";

export { appendLinkified, setText };

/** document.createElement with an optional class and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** Three animated dots (typing / reply coming). */
export function dots() {
  const wrap = el("span", "ac-dots");
  wrap.setAttribute("aria-hidden", "true");
  for (let i = 0; i < 3; i++) wrap.appendChild(el("span"));
  return wrap;
}

/** An absolute http(s) URL or null. Relative URLs resolve against this page. */
export function safeHref(candidate) {
  if (typeof candidate !== "string" || !candidate) return null;
  try {
    const u = new URL(candidate, location.href);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (e) {
    return null;
  }
}

/** A link with text `label` if `url` is http(s), else a plain span. */
export function safeLink(url, label, className) {
  const href = safeHref(url);
  if (!href) return el("span", className, label);
  const a = el("a", className, label);
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

/** "#0ea5e9" -> itself; anything that is not a hex colour -> null. */
export function safeColor(value) {
  const color = String(value || "");
  return /^#(?:[0-9a-fA-F]{3}){1,2}$/.test(color) ? color : null;
}

/** A round initials avatar coloured with the agent's colour (CSSOM, not a style attribute). */
export function avatar(agent, className) {
  const node = el("span", "ac-avatar" + (className ? " " + className : ""), (agent && agent.initials) || "?");
  const color = safeColor(agent && agent.color);
  if (color) node.style.setProperty("--ac-avatar", color);
  if (agent && agent.name) node.title = agent.name;
  node.setAttribute("aria-hidden", "true");
  return node;
}

// Django sends microseconds; only milliseconds are in the ECMAScript date format.
export function parseDate(iso) {
  if (!iso) return null;
  const d = new Date(String(iso).replace(/(\.\d{3})\d+/, "$1"));
  return Number.isNaN(d.getTime()) ? null : d;
}

const pad = (n) => String(n).padStart(2, "0");

export function formatTime(iso) {
  const d = parseDate(iso) || new Date();
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function formatDateTime(iso) {
  const d = parseDate(iso);
  if (!d) return "";
  try {
    return d.toLocaleString(language() === "zh" ? "zh-CN" : undefined, {
      year: "numeric",
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
    });
  } catch (e) {
    return d.toString();
  }
}

export function formatDate(iso) {
  const d = parseDate(iso);
  if (!d) return "";
  try {
    return d.toLocaleDateString(language() === "zh" ? "zh-CN" : undefined, {
      year: "numeric",
      month: "short",
      day: "numeric",
    });
  } catch (e) {
    return d.toDateString();
  }
}

/** A short duration: "now", "3m", "2h", "4d". */
export function shortDuration(ms) {
  const minutes = Math.floor(Math.max(0, ms) / 60000);
  if (minutes < 1) return t("now");
  if (minutes < 60) return t("minutes", { n: minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return t("hours", { n: hours });
  return t("days", { n: Math.floor(hours / 24) });
}

/** How long ago `iso` was, compact ("5m"); older than a week: the date. */
export function relativeTime(iso) {
  const d = parseDate(iso);
  if (!d) return "";
  const ms = Date.now() - d.getTime();
  if (ms > 7 * 24 * 3600 * 1000) return formatDate(iso);
  return shortDuration(ms);
}


/** Removes every child of `node`. */
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** A collision-resistant client_id for replies and notes. */
export function newClientId() {
  if (window.crypto && typeof crypto.randomUUID === "function") return "a-" + crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return "a-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
