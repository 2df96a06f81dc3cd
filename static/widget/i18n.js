// UI strings of the chat iframe. Message text comes from the server as-is;
// only the widget's own chrome is translated here.

// Both languages' strings come from Django's catalogues
// (conversations/interface_text.py, helpdesk/locale/): the view renders them
// into the page as JSON, so the .po files are the one place to translate.
const STRINGS = readStrings();

function readStrings() {
  const node = document.getElementById("ui-text");
  try {
    return node ? JSON.parse(node.textContent) : { en: {} };
  } catch {
    return { en: {} };
  }
}

let current = "en";

/** "zh", "zh-CN", "zh-Hant-TW" -> "zh"; anything else -> "en". */
export function pickLanguage(tag) {
  return /^zh\b/i.test(String(tag || "")) ? "zh" : "en";
}

export function setLanguage(tag) {
  current = pickLanguage(tag);
  return current;
}

export function language() {
  return current;
}

/** t("joined", {name: "Alice"}); placeholders are filled with plain text. */
export function t(key, vars) {
  const table = STRINGS[current] || STRINGS.en;
  let s = key in table ? table[key] : STRINGS.en[key] || key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

/**
 * Fills the static chrome of chat.html: [data-i18n] sets textContent,
 * [data-i18n-placeholder] / [data-i18n-label] set placeholder / aria-label
 * (and a button's title). Called again if the host page reports another language.
 */
export function localize(root) {
  root.querySelectorAll("[data-i18n]").forEach((el) => {
    el.textContent = t(el.getAttribute("data-i18n"));
  });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
    el.setAttribute("placeholder", t(el.getAttribute("data-i18n-placeholder")));
  });
  root.querySelectorAll("[data-i18n-label]").forEach((el) => {
    const text = t(el.getAttribute("data-i18n-label"));
    el.setAttribute("aria-label", text);
    // Icon-only buttons also get a tooltip; text fields do not need one.
    if (el.tagName === "BUTTON") el.setAttribute("title", text);
  });
}
