// The chat inside the widget iframe: talks to the host page's loader
// (static/widget.js) through postMessage and to the helpdesk through the
// visitor WebSocket described in docs/protocol.md.

import { language, localize, pickLanguage, setLanguage, t } from "./i18n.js";
import { dots, el, formatDate, messageBubble } from "./render.js";
import { Connection } from "./socket.js";
import { createStore } from "./store.js";
import { Transcript } from "./transcript.js";

const config = JSON.parse(document.getElementById("helpdesk-config").textContent);
const siteKey = String(config.siteKey || "");
const maxLength = Number(config.maxLength) || 4000;
const store = createStore(siteKey);
const embedded = window.parent !== window;

const $ = (selector) => document.querySelector(selector);
const ui = {
  name: $(".hd-name"),
  human: $('[data-testid="human"]'),
  close: $(".hd-close"),
  scroller: $(".hd-scroll"),
  previous: $(".hd-previous"),
  previousList: $(".hd-previous-list"),
  typing: $(".hd-typing"),
  typingLabel: $(".hd-typing-label"),
  stateBanner: $('[data-testid="state-banner"]'),
  offlineBanner: $('[data-testid="offline-banner"]'),
  form: $(".hd-composer"),
  composer: $('[data-testid="composer"]'),
};
const transcript = new Transcript(ui.scroller, $('[data-testid="transcript"]'));

// --- session state ------------------------------------------------------------
let hostOrigin = null; // origin of the embedding page, verified by the browser
let page = { url: "", referrer: "", title: "" };
let pageLanguage = navigator.language;
let conn = null;
let welcomed = false; // hello answered on the current socket
let serverGreeting = "";
let convState = null;
let panelOpen = !embedded; // opened directly, the page is the panel
let unread = 0;
let identity = null; // latest merged identify frame; resent after every welcome

// --- look -----------------------------------------------------------------------
function applyColor(color) {
  if (!/^#[0-9a-fA-F]{6}$/.test(color || "")) return;
  const root = document.documentElement;
  root.style.setProperty("--hd-color", color);
  // Dark text on light brand colours keeps the visitor's bubbles readable.
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16) / 255);
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  root.style.setProperty("--hd-on-color", luminance > 0.6 ? "#111827" : "#ffffff");
}

function applyLanguage(tag) {
  setLanguage(tag);
  document.documentElement.lang = language() === "zh" ? "zh-Hans" : "en";
  localize(document);
  document.title = `${config.name || ""} · ${t("title")}`;
  ui.offlineBanner.textContent = t("reconnecting");
  renderState();
  renderGreeting();
}

function renderGreeting() {
  const text =
    language() === "zh"
      ? config.greetingZh || serverGreeting || config.greeting
      : serverGreeting || config.greeting;
  transcript.greeting(text || "");
}

// --- parent page (loader) ---------------------------------------------------------
function toParent(message) {
  // Only ever to the verified host origin: never broadcast conversation state.
  if (embedded && hostOrigin) window.parent.postMessage(message, hostOrigin);
}

window.addEventListener("message", (event) => {
  if (!embedded || event.source !== window.parent) return;
  const data = event.data;
  if (!data || typeof data !== "object" || typeof data.type !== "string") return;

  if (data.type === "helpdesk:init") {
    if (data.site && data.site !== siteKey) return;
    if (hostOrigin !== null && event.origin !== hostOrigin) return;
    page = {
      url: String(data.pageUrl || ""),
      referrer: String(data.referrer || ""),
      title: String(data.title || ""),
    };
    const lang = data.language || navigator.language;
    if (pickLanguage(lang) !== language()) applyLanguage(lang);
    pageLanguage = lang;
    if (hostOrigin === null) start(event.origin);
    return;
  }
  // Everything else only from the page we connected for.
  if (event.origin !== hostOrigin) return;
  if (data.type === "helpdesk:identify") identify(data.attributes);
  else if (data.type === "helpdesk:visibility") setPanelOpen(!!data.open);
});

function setPanelOpen(open) {
  panelOpen = open;
  if (!open) return;
  unread = 0;
  toParent({ type: "helpdesk:unread", count: 0 });
  scheduleSeen();
  transcript.scrollToBottom();
  // Focusing on touch devices would pop the keyboard over the transcript.
  if (window.matchMedia && window.matchMedia("(pointer: fine)").matches) ui.composer.focus();
}

function countUnread(message) {
  if (panelOpen || message.author === "visitor") return;
  unread += 1;
  toParent({ type: "helpdesk:unread", count: unread });
}

// --- identify ---------------------------------------------------------------------
const IDENTITY_FIELDS = ["user_id", "email", "name", "user_hash"];

/** Helpdesk.identify({name, email, user_id, user_hash, ...custom}) -> identify frame. */
function identify(attrs) {
  if (!attrs || typeof attrs !== "object" || Array.isArray(attrs)) return;
  const frame = identity || { type: "identify", attributes: {} };
  for (const [key, value] of Object.entries(attrs)) {
    if (IDENTITY_FIELDS.includes(key)) {
      if (typeof value === "string" || typeof value === "number") frame[key] = String(value);
    } else if (key === "attributes" && value && typeof value === "object" && !Array.isArray(value)) {
      Object.assign(frame.attributes, value);
    } else {
      frame.attributes[key] = value;
    }
  }
  identity = frame;
  if (welcomed) send(identity);
}

// --- socket ---------------------------------------------------------------------------
function start(origin) {
  hostOrigin = origin;
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const url =
    scheme +
    location.host +
    config.wsPath +
    "?site=" +
    encodeURIComponent(siteKey) +
    "&origin=" +
    encodeURIComponent(hostOrigin);
  conn = new Connection(url, { onOpen: sayHello, onFrame: handle, onClose: disconnected });
  conn.connect();
}

function send(frame) {
  return !!conn && conn.send(frame);
}

function sayHello() {
  const hello = { type: "hello", page, language: pageLanguage };
  const token = store.token;
  if (token) hello.token = token;
  // Never claim more than is on screen: after a fresh page load only what the
  // transcript cache redrew is there, and the server replays the rest.
  const lastSeen = Math.min(store.lastSeen, transcript.maxId);
  if (lastSeen > 0) hello.last_seen_id = lastSeen;
  send(hello);
}

function disconnected() {
  welcomed = false;
  transcript.dropStreams();
  hideTyping();
  ui.offlineBanner.hidden = false;
}

const handlers = {
  welcome: onWelcome,
  ack: onAck,
  message: (f) => f.message && onMessage(f.message),
  "reply.start": (f) => {
    hideTyping("bot");
    transcript.startReply(String(f.reply_id));
  },
  "reply.delta": (f) => transcript.deltaReply(String(f.reply_id), f.seq, f.text),
  "reply.end": (f) => {
    const message = f.message || null;
    if (message) adoptConversation(message.conversation_id);
    if (transcript.endReply(String(f.reply_id), message)) saved(message);
  },
  typing: (f) => (f.active ? showTyping(f.who, f.name) : hideTyping(f.who)),
  "agent.joined": (f) => {
    const name = (f.agent && f.agent.name) || t("someone");
    hideTyping("agent");
    transcript.notice(t("joined", { name }), `${f.conversation_id}:${name}`);
  },
  state: (f) => setState(f.state),
  history: onHistory,
  error: onError,
  pong: () => {},
};

function handle(frame) {
  const handler = handlers[frame.type];
  if (!handler) return;
  try {
    handler(frame);
  } catch (e) {
    // One odd frame must not take the whole widget down.
    console.error("helpdesk: failed to handle", frame.type, e);
  }
}

function onWelcome(w) {
  welcomed = true;
  conn.markHealthy();
  ui.offlineBanner.hidden = true;
  if (w.token) store.token = w.token;
  if (w.site) {
    if (w.site.name) ui.name.textContent = w.site.name;
    applyColor(w.site.color);
  }
  serverGreeting = w.greeting || "";
  renderGreeting();

  const conversation = w.conversation || null;
  const id = conversation ? conversation.id : null;
  if (id === null || id !== store.conversation) {
    // Another conversation is current (closed meanwhile, or started in
    // another tab): start the view over; the replay that follows fills it.
    transcript.clear();
    store.clearTranscript();
  }
  store.conversation = id;
  setState(conversation ? conversation.state : null);
  renderPrevious(Array.isArray(w.previous) ? w.previous : []);

  if (identity) send(identity);
  // Unacknowledged messages, oldest first, with their original client_id so
  // the server drops any it already committed.
  for (const item of store.outbox) send({ type: "message", client_id: item.client_id, text: item.text });
  scheduleSeen();
}

function adoptConversation(id) {
  if (Number.isInteger(id) && id !== store.conversation) store.conversation = id;
}

/** Bookkeeping for every message that newly reached the screen. */
function saved(message) {
  if (message.author === "agent") hideTyping("agent");
  store.cacheMessage(message);
  if (message.id > store.lastSeen) store.lastSeen = message.id;
  countUnread(message);
  scheduleSeen();
}

function onMessage(message) {
  if (!Number.isInteger(message.id)) return;
  adoptConversation(message.conversation_id);
  const result = transcript.addMessage(message);
  if (message.author === "visitor" && message.client_id) removeFromOutbox(message.client_id);
  if (result === "dup") return;
  if (result === "acked") {
    store.cacheMessage(message);
    if (message.id > store.lastSeen) store.lastSeen = message.id;
    scheduleSeen();
  } else saved(message);
}

function onAck(a) {
  removeFromOutbox(a.client_id);
  adoptConversation(a.conversation_id);
  const message = {
    id: a.message_id,
    conversation_id: a.conversation_id,
    author: "visitor",
    agent_name: null,
    text: a.text,
    source: "visitor",
    kb_entry_id: null,
    client_id: a.client_id,
    interrupted: false,
    created_at: a.created_at,
  };
  if (transcript.ack(message)) {
    store.cacheMessage(message);
    if (message.id > store.lastSeen) store.lastSeen = message.id;
    scheduleSeen();
  }
}

function onError(e) {
  if (e.client_id) {
    transcript.fail(e.client_id, e.detail);
    removeFromOutbox(e.client_id);
    return;
  }
  console.warn("helpdesk:", e.code, e.detail);
}

// --- seen (throttled) ----------------------------------------------------------------
let seenSent = 0;
let seenSentAt = 0;
let seenTimer = null;

function scheduleSeen() {
  if (!panelOpen || document.hidden || !welcomed || seenTimer) return;
  const wait = Math.max(0, seenSentAt + 1000 - Date.now());
  seenTimer = setTimeout(() => {
    seenTimer = null;
    const id = transcript.maxId;
    if (!panelOpen || document.hidden || !welcomed || id <= seenSent) return;
    if (send({ type: "seen", message_id: id })) {
      seenSent = id;
      seenSentAt = Date.now();
    }
  }, wait);
}

document.addEventListener("visibilitychange", scheduleSeen);

// --- banners, header, typing row ------------------------------------------------------
function setState(state) {
  convState = state || null;
  renderState();
}

function renderState() {
  const banner = ui.stateBanner;
  banner.setAttribute("data-state", convState || "");
  const text = convState === "waiting" ? t("waiting") : convState === "closed" ? t("closed") : "";
  banner.textContent = text;
  banner.hidden = !text;
  ui.human.hidden = convState === "waiting" || convState === "human";
}

const typingWho = new Map(); // "agent" | "bot" -> {name, timer}

function showTyping(who, name) {
  const key = who === "agent" ? "agent" : "bot";
  const previous = typingWho.get(key);
  if (previous) clearTimeout(previous.timer);
  // A lost "active: false" must not leave the indicator up forever.
  const timer = setTimeout(() => hideTyping(key), 15000);
  typingWho.set(key, { name: name || "", timer });
  renderTyping();
}

function hideTyping(who) {
  for (const key of who ? [who === "agent" ? "agent" : "bot"] : ["agent", "bot"]) {
    const entry = typingWho.get(key);
    if (entry) clearTimeout(entry.timer);
    typingWho.delete(key);
  }
  renderTyping();
}

function renderTyping() {
  const agent = typingWho.get("agent");
  const visible = typingWho.size > 0;
  // Agents are named; the bot just shows the dots.
  ui.typingLabel.textContent = agent ? t("typing", { name: agent.name || t("someone") }) : "";
  if (visible === !ui.typing.hidden) return;
  transcript.change(() => {
    ui.typing.hidden = !visible;
  });
}

// --- earlier conversations ---------------------------------------------------------------
const previousItems = new Map(); // conversation id -> {details, body, requested}

function renderPrevious(list) {
  ui.previous.hidden = list.length === 0;
  const keep = new Set(list.map((c) => c.id));
  for (const [id, item] of previousItems) {
    if (!keep.has(id)) {
      item.details.remove();
      previousItems.delete(id);
    }
  }
  for (const summary of list) {
    if (previousItems.has(summary.id)) continue;
    const details = el("details", "hd-previous-item");
    const head = el("summary");
    head.appendChild(el("span", "hd-previous-date", formatDate(summary.created_at, language())));
    head.appendChild(el("span", "hd-previous-preview", summary.preview || "…"));
    const body = el("div", "hd-previous-body", t("loading"));
    details.append(head, body);
    const item = { details, body, requested: false };
    details.addEventListener("toggle", () => {
      if (details.open && !item.requested) item.requested = send({ type: "history", conversation_id: summary.id });
    });
    previousItems.set(summary.id, item);
    ui.previousList.appendChild(details);
  }
}

function onHistory(h) {
  const item = previousItems.get(h.conversation_id);
  if (!item) return;
  item.body.textContent = "";
  for (const message of Array.isArray(h.messages) ? h.messages : []) {
    item.body.appendChild(messageBubble(message));
  }
}

// --- composer ----------------------------------------------------------------------------
function newClientId() {
  if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return "c-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function removeFromOutbox(clientId) {
  // Re-read every time: another tab of the same site shares this outbox.
  const list = store.outbox;
  const rest = list.filter((m) => m.client_id !== clientId);
  if (rest.length !== list.length) store.outbox = rest;
}

function submit() {
  const text = ui.composer.value.trim();
  if (!text) return;
  stopTyping();
  const item = { client_id: newClientId(), text: text.slice(0, maxLength), created_at: new Date().toISOString() };
  store.outbox = store.outbox.concat([item]);
  transcript.addPending(item);
  ui.composer.value = "";
  autoGrow();
  // Offline it simply waits in the outbox for the next welcome.
  if (welcomed) send({ type: "message", client_id: item.client_id, text: item.text });
}

function autoGrow() {
  const c = ui.composer;
  c.style.height = "auto";
  c.style.height = `${Math.min(c.scrollHeight, 140)}px`;
}

// Visitor typing: at most one frame per 400 ms, "stopped" after 2 s idle.
let typingActive = false;
let typingSentAt = 0;
let typingTrailing = null;
let typingIdle = null;

function sendTyping() {
  typingTrailing = null;
  const text = ui.composer.value;
  if (!welcomed || !text.trim()) return;
  if (send({ type: "typing", active: true, text: text.slice(0, maxLength) })) {
    typingActive = true;
    typingSentAt = Date.now();
  }
}

function stopTyping() {
  clearTimeout(typingTrailing);
  clearTimeout(typingIdle);
  typingTrailing = typingIdle = null;
  if (typingActive) send({ type: "typing", active: false });
  typingActive = false;
}

function onInput() {
  autoGrow();
  if (!ui.composer.value.trim()) {
    stopTyping();
    return;
  }
  const wait = typingSentAt + 400 - Date.now();
  if (wait <= 0) sendTyping();
  // Trailing send so agents' preview ends on what was actually typed.
  else if (!typingTrailing) typingTrailing = setTimeout(sendTyping, wait);
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, 2000);
}

// --- wiring -------------------------------------------------------------------------------
function boot() {
  applyColor(config.color);
  ui.name.textContent = config.name || "";
  ui.composer.maxLength = maxLength;
  ui.close.hidden = !embedded;
  applyLanguage(navigator.language);

  // Redraw what this browser already saw, then anything still unsent.
  for (const message of store.cachedMessages(store.conversation)) transcript.addMessage(message);
  for (const item of store.outbox) transcript.addPending(item);
  transcript.scrollToBottom();

  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
    ui.composer.focus();
  });
  ui.composer.addEventListener("keydown", (event) => {
    // isComposing: Enter confirms an IME candidate (Chinese, Japanese) first.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  ui.composer.addEventListener("input", onInput);
  ui.composer.addEventListener("blur", () => {
    if (!ui.composer.value.trim()) stopTyping();
  });
  ui.human.addEventListener("click", () => {
    if (!send({ type: "human.request" })) return;
    // Debounce double taps until the `state` answer hides the button.
    ui.human.disabled = true;
    setTimeout(() => (ui.human.disabled = false), 3000);
  });
  ui.close.addEventListener("click", () => toParent({ type: "helpdesk:close" }));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") toParent({ type: "helpdesk:close" });
  });
  ui.typing.prepend(dots());

  if (embedded) {
    // Carries no data, so "*" is fine: we cannot know the parent's origin
    // until it answers with helpdesk:init.
    window.parent.postMessage({ type: "helpdesk:ready" }, "*");
  } else {
    // Opened directly (support links, testing): this page is its own host.
    setTimeout(() => hostOrigin === null && start(location.origin), 300);
  }
}

boot();
