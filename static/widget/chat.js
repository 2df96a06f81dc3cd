// The chat inside the widget iframe: talks to the host page's loader
// (static/widget.js) through postMessage and to the helpdesk through the
// visitor WebSocket described in docs/protocol.md.

import { language, localize, pickLanguage, setLanguage, t } from "./i18n.js";
import { AttachmentTray, formatSize, uploadFile } from "./attachments.js";
import { Composer } from "./composer.js";
import { RatingPrompt } from "./csat.js";
import { EarlierConversations } from "./history.js";
import { dots } from "./render.js";
import { Connection } from "../shared/socket.js";
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
  attach: $('[data-testid="attach"]'),
  fileInput: $('[data-testid="file-input"]'),
  tray: $('[data-testid="attachment-tray"]'),
  drop: $('[data-testid="drop-zone"]'),
};
const transcript = new Transcript(ui.scroller, $('[data-testid="transcript"]'));
const rating = new RatingPrompt($('[data-testid="csat"]'), {
  send: (frame) => welcomed && send(frame),
  onDismiss: (id) => (store.csatDismissed = id),
  change: (fn) => transcript.change(fn, true),
});
const earlier = new EarlierConversations(ui.previous, ui.previousList, (frame) => send(frame));
// What the Site accepts (welcome.site.attachments); nothing until the first welcome.
let attachmentRules = { enabled: false, max_bytes: 0, types: [] };
const tray = new AttachmentTray(ui.tray, {
  prefix: "hd",
  label: t,
  upload: uploadAttachment,
  onChange: () => transcript.change(() => {}),
});
const composer = new Composer(ui.form, ui.composer, {
  maxLength,
  sendTyping: (frame) => welcomed && send(frame),
  onSubmit: sendMessage,
  // Not while a file is still going up: it would be left behind.
  canSubmit: (text) => !tray.busy && (!!text || tray.ready().length > 0),
});

// --- session state ------------------------------------------------------------
let hostOrigin = null; // origin of the embedding page, verified by the browser
// Opened directly the page is its own host; embedded, helpdesk:init replaces this.
let page = embedded
  ? { url: "", referrer: "", title: "" }
  : { url: location.href, referrer: document.referrer, title: document.title };
let pageLanguage = navigator.language;
let conn = null;
let welcomed = false; // hello answered on the current socket
let serverGreeting = "";
let convState = null;
let panelOpen = !embedded; // opened directly, the page is the panel
let unread = 0;
let identity = null; // latest merged identify frame; resent after every welcome

// --- look -----------------------------------------------------------------------
function applyColor(value) {
  let color = String(value || "");
  if (/^#[0-9a-fA-F]{3}$/.test(color)) color = "#" + [...color.slice(1)].map((c) => c + c).join("");
  if (!/^#[0-9a-fA-F]{6}$/.test(color)) return;
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
  rating.localize();
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
  if (window.matchMedia && window.matchMedia("(pointer: fine)").matches) composer.focus();
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
    // The server also saves "Alice joined the conversation" as a system
    // message (it survives reloads), so only the header changes here.
    const name = (f.agent && f.agent.name) || t("someone");
    hideTyping("agent");
    const subtitle = document.querySelector(".hd-subtitle");
    if (subtitle) subtitle.textContent = t("chattingWith", { name });
  },
  state: (f) => setState(f.state),
  history: (f) => {
    // Asked for after a welcome to renew the cached files' signed URLs.
    if (f.conversation_id === store.conversation && Array.isArray(f.messages)) {
      transcript.refreshAttachments(f.messages);
      for (const m of f.messages) if (transcript.has(m.id)) store.cacheMessage(m, true);
      return;
    }
    earlier.show(f);
  },
  "csat.request": (f) => {
    // Closed with the ✕ before: that conversation is not asked about again here.
    if (f.conversation_id !== store.csatDismissed) rating.show(f);
  },
  "csat.ack": (f) => rating.saved(f),
  "transcript.queued": (f) => rating.queued(f),
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
    applyAttachmentRules(w.site.attachments);
  }
  serverGreeting = w.greeting || "";
  renderGreeting();

  const conversation = w.conversation || null;
  const id = conversation ? conversation.id : null;
  // A new conversation is under way: the prompt about the last one has had its time.
  if (id !== null) rating.hide();
  if (id === null || id !== store.conversation) {
    // Another conversation is current (closed meanwhile, or started in
    // another tab): start the view over; the replay that follows fills it.
    transcript.clear();
    store.clearTranscript();
  }
  store.conversation = id;
  setState(conversation ? conversation.state : null);
  earlier.render(Array.isArray(w.previous) ? w.previous : []);

  if (identity) send(identity);
  // Unacknowledged messages, oldest first, with their original client_id so
  // the server drops any it already committed.
  for (const item of store.outbox) send(messageFrame(item));
  // Files redrawn from this browser's cache carry URLs that may have expired.
  if (id !== null && transcript.hasAttachments) send({ type: "history", conversation_id: id });
  scheduleSeen();
}

function adoptConversation(id) {
  if (Number.isInteger(id) && id !== store.conversation) {
    store.conversation = id;
    rating.hide();
  }
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
    attachments: Array.isArray(a.attachments) ? a.attachments : [],
  };
  if (transcript.ack(message)) {
    store.cacheMessage(message);
    if (message.id > store.lastSeen) store.lastSeen = message.id;
    scheduleSeen();
  }
}

function onError(e) {
  if (e.client_id && (e.code === "rate_limited" || e.code === "unavailable")) {
    // Not refused for good: keep it in the outbox and send it again when allowed.
    const item = store.outbox.find((entry) => entry.client_id === e.client_id);
    transcript.setPendingNote?.(e.client_id, e.detail);
    if (item) {
      setTimeout(() => send(messageFrame(item)), Math.max(1, Number(e.retry_after) || 5) * 1000);
    }
    return;
  }
  if (e.client_id) {
    transcript.fail(e.client_id, e.detail);
    removeFromOutbox(e.client_id);
    return;
  }
  if (rating.error(e)) return;
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

// --- sending ----------------------------------------------------------------------------
function newClientId() {
  if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID needs a secure context; a plain-http helpdesk still has this.
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

function messageFrame(item) {
  const frame = { type: "message", client_id: item.client_id, text: item.text };
  const ids = (item.attachments || []).map((a) => a.id).filter(Number.isInteger);
  if (ids.length) frame.attachments = ids;
  return frame;
}

/** A new visitor message: on screen at once, in the outbox until its ack. */
function sendMessage(text) {
  const attachments = tray.ready();
  tray.clear();
  const item = { client_id: newClientId(), text, attachments, created_at: new Date().toISOString() };
  store.outbox = store.outbox.concat([item]);
  transcript.addPending(item);
  // Offline it simply waits in the outbox for the next welcome.
  if (welcomed) send(messageFrame(item));
}

// --- attachments -----------------------------------------------------------------------
function applyAttachmentRules(rules) {
  attachmentRules = rules && typeof rules === "object" ? rules : { enabled: false };
  ui.attach.hidden = !attachmentRules.enabled;
  if (!attachmentRules.enabled) tray.clear();
}

/** The server decides (it reads the bytes); the size is checked here too, to fail fast. */
function uploadAttachment(file, onProgress) {
  const max = Number(attachmentRules.max_bytes) || 0;
  if (max && file.size > max) {
    return Promise.reject(new Error(t("tooLarge", { size: formatSize(max) })));
  }
  if (!store.token) return Promise.reject(new Error(t("reconnecting")));
  const url =
    "/widget/attachments?site=" + encodeURIComponent(siteKey) + "&origin=" + encodeURIComponent(hostOrigin || "");
  return uploadFile(url, file, { "X-Visitor-Token": store.token }, onProgress);
}

function attachFiles(files) {
  if (!attachmentRules.enabled || !files || !files.length) return;
  tray.add(files);
  composer.focus();
}

function wireAttachments() {
  ui.attach.addEventListener("click", () => ui.fileInput.click());
  ui.fileInput.addEventListener("change", () => {
    attachFiles(ui.fileInput.files);
    ui.fileInput.value = "";
  });
  // A pasted screenshot is a file too.
  ui.composer.addEventListener("paste", (event) => {
    const files = event.clipboardData && event.clipboardData.files;
    if (files && files.length && attachmentRules.enabled) {
      event.preventDefault();
      attachFiles(files);
    }
  });
  const hasFiles = (event) => !!event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files");
  let depth = 0;
  document.addEventListener("dragenter", (event) => {
    if (!attachmentRules.enabled || !hasFiles(event)) return;
    depth += 1;
    ui.drop.hidden = false;
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) ui.drop.hidden = true;
  });
  document.addEventListener("dragover", (event) => {
    if (attachmentRules.enabled && hasFiles(event)) event.preventDefault();
  });
  document.addEventListener("drop", (event) => {
    depth = 0;
    ui.drop.hidden = true;
    if (!hasFiles(event)) return;
    event.preventDefault();
    attachFiles(event.dataTransfer.files);
  });
}

// --- wiring -------------------------------------------------------------------------------
function boot() {
  applyColor(config.color);
  ui.name.textContent = config.name || "";
  ui.close.hidden = !embedded;
  applyLanguage(navigator.language);

  // Redraw what this browser already saw, then anything still unsent.
  for (const message of store.cachedMessages(store.conversation)) transcript.addMessage(message);
  for (const item of store.outbox) transcript.addPending(item);
  transcript.scrollToBottom();

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
  wireAttachments();

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
