// UI strings of the chat iframe. Message text comes from the server as-is;
// only the widget's own chrome is translated here.

const STRINGS = {
  en: {
    title: "Chat",
    subtitle: "We typically reply in a few minutes",
    placeholder: "Type your message…",
    send: "Send",
    human: "Talk to a person",
    close: "Close chat",
    reconnecting: "Reconnecting…",
    waiting: "Connecting you with a person…",
    closed: "This conversation has ended. Send a message to start a new one.",
    joined: "{name} joined the conversation",
    chattingWith: "You're chatting with {name}",
    typing: "{name} is typing…",
    someone: "Someone",
    earlier: "Earlier conversations",
    loading: "Loading…",
    sending: "Sending…",
    failed: "Failed to send",
    interrupted: "(interrupted)",
    kb: "Answer from help center",
    ai: "AI",
    you: "You",
  },
  zh: {
    title: "在线客服",
    subtitle: "我们通常会在几分钟内回复",
    placeholder: "请输入消息…",
    send: "发送",
    human: "转人工客服",
    close: "关闭聊天",
    reconnecting: "正在重新连接…",
    waiting: "正在为您转接人工客服…",
    closed: "本次会话已结束。发送消息即可开始新的会话。",
    joined: "{name} 加入了会话",
    chattingWith: "{name} 正在为您服务",
    typing: "{name} 正在输入…",
    someone: "客服",
    earlier: "历史会话",
    loading: "加载中…",
    sending: "发送中…",
    failed: "发送失败",
    interrupted: "（已中断）",
    kb: "来自帮助中心的答案",
    ai: "AI",
    you: "您",
  },
};

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
