// UI strings of the agent console (English and Simplified Chinese). Data from
// the server (messages, names, visitor fields) is shown as-is; only the
// console's own chrome goes through t().

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

/** "zh", "zh-hans", "zh-CN" -> "zh"; anything else -> "en". */
export function pickLanguage(tag) {
  return /^zh/i.test(String(tag || "")) ? "zh" : "en";
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
  let s = key in table ? table[key] : key in STRINGS.en ? STRINGS.en[key] : key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

/**
 * Fills the static chrome of console.html: [data-i18n] sets textContent,
 * [data-i18n-placeholder] / [data-i18n-label] set placeholder / aria-label
 * (and a button's title).
 */
export function localize(root) {
  root.querySelectorAll("[data-i18n]").forEach((node) => {
    node.textContent = t(node.getAttribute("data-i18n"));
  });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((node) => {
    node.setAttribute("placeholder", t(node.getAttribute("data-i18n-placeholder")));
  });
  root.querySelectorAll("[data-i18n-label]").forEach((node) => {
    const text = t(node.getAttribute("data-i18n-label"));
    node.setAttribute("aria-label", text);
    if (node.tagName === "BUTTON" || node.tagName === "A") node.setAttribute("title", text);
  });
}
