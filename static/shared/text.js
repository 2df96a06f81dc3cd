// Putting user and LLM text on a page, shared by the widget and the agent
// console: always as text nodes, with only absolute http(s) URLs made into links.

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

function absoluteHttpHref(candidate) {
  try {
    const u = new URL(candidate);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (e) {
    return null;
  }
}

/** Appends `text` to `parent` as text nodes, with absolute http(s) URLs as links. */
export function appendLinkified(parent, text) {
  let pos = 0;
  for (const match of text.matchAll(URL_RE)) {
    const url = trimUrl(match[0]);
    const href = url && absoluteHttpHref(url);
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

/**
 * Replaces the contents of a bubble's text node. Visitor text stays plain (a
 * visitor's link is never made clickable for anyone); bot and agent text gets
 * its http(s) URLs linked.
 */
export function setText(node, text, author) {
  node.textContent = "";
  const value = String(text == null ? "" : text);
  if (author === "visitor") node.textContent = value;
  else appendLinkified(node, value);
}
