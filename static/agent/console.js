// The agent console (templates/agent/console.html): the conversation list,
// the open conversation and the visitor panel, kept live by the agent
// WebSocket described in docs/protocol.md ("Agent socket").

import { localize, language, setLanguage, t } from "./i18n.js";
import { Api } from "./api.js";
import { Composer } from "./composer.js";
import { ConversationHeader } from "./conversation.js";
import { dots } from "./dom.js";
import { ConversationList } from "./list.js";
import { Notifier } from "./notify.js";
import { Outbox } from "./outbox.js";
import { Presence } from "./presence.js";
import { ReadTracker } from "./read.js";
import { RepliesInFlight } from "./replies.js";
import { RowStore } from "./rows.js";
import { Connection } from "../shared/socket.js";
import { Transcript } from "./transcript.js";
import { VisitorPanel } from "./visitor.js";

const config = JSON.parse(document.getElementById("agent-config").textContent);
setLanguage(config.language);

const $ = (selector) => document.querySelector(selector);
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);
const api = new Api(config.apiBase || "/agent/api/");
const store = new RowStore();

// --- session state ----------------------------------------------------------------
let conn = null;
let connected = false; // `hello` received on the current socket
let openId = null; // conversation in the middle pane
let mainId = null; // the live conversation (differs while an earlier one is shown read-only)
let readOnly = false;
let watchedId = null; // the conversation whose reply deltas this socket gets (`watch`)
let watchConfirmed = false; // its `watching` answer came: no delta of it is missed since
let openSeq = 0; // guards against out-of-order detail responses
let fallbackLoad = null;
const outbox = new Outbox();

const ui = {
  app: $(".ac-app"),
  offline: byTestId("agent-offline"),
  empty: $(".ac-empty"),
  conv: $(".ac-conv"),
  scroller: $(".ac-scroll"),
};

const notifier = new Notifier(
  { enable: byTestId("enable-notifications"), toasts: $(".ac-toasts") },
  { onOpen: (id) => openConversation(id) },
);
const toast = (text, kind) => notifier.toast(text, kind);

const presence = new Presence(
  {
    team: byTestId("team"),
    status: byTestId("status-select"),
    meName: byTestId("agent-name"),
    meAvatar: $(".ac-me-avatar"),
  },
  { send, me: config.agent || {} },
);
const meId = () => presence.meId;

// Replies the bot is streaming, from reply.start / reply.end (every conversation's).
const inFlight = new RepliesInFlight((id) => list.markReplying(id));

const list = new ConversationList(
  { tabs: $(".ac-tabs"), search: byTestId("search"), list: byTestId("conversation-list"), status: $(".ac-list-status") },
  {
    api,
    store,
    me: meId,
    onOpen: (id) => openConversation(id),
    replying: (id) => inFlight.has(id),
    onRows: (rows) => rows.forEach(seedReplying),
    onChange: () => notifier.setUnread(store.unreadTotal(meId())),
    onSignedOut,
  },
);

const transcript = new Transcript(ui.scroller, byTestId("transcript"), byTestId("visitor-typing"));

const header = new ConversationHeader(document, {
  api,
  conversationsBase: config.conversationsBase,
  send,
  me: meId,
  toast,
  onBack: () => mainId !== null && openConversation(mainId),
  onTogglePanel: togglePanel,
});

const composer = new Composer($(".ac-composer"), { api, apiBase: config.apiBase, send, onSubmit: submitReply, toast });

const reader = new ReadTracker({
  current: () => {
    if (openId === null || readOnly || !connected) return null;
    const row = store.get(openId);
    return { id: openId, maxId: transcript.maxId, unread: row ? Number(row.unread) || 0 : 0 };
  },
  send,
  onRead: (id) => {
    const row = store.get(id);
    if (row && row.unread) list.update(Object.assign({}, row, { unread: 0 }));
  },
});
const scheduleRead = () => reader.schedule();

const visitorPanel = new VisitorPanel(byTestId("visitor-panel"), {
  onOpenPrevious: (id) => (id === mainId ? openConversation(id) : openConversation(id, { readOnly: true })),
});

// --- socket --------------------------------------------------------------------------
function send(frame) {
  return !!conn && connected && conn.send(frame);
}

function start() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  conn = new Connection(scheme + location.host + (config.wsPath || "/ws/agent/"), {
    onOpen: () => {},
    onFrame: handle,
    onClose: disconnected,
  });
  conn.connect();
}

function disconnected(code) {
  connected = false;
  watchedId = null; // the next socket watches nothing until told
  watchConfirmed = false;
  inFlight.reset();
  ui.offline.textContent = t("offline");
  ui.offline.hidden = false;
  transcript.dropStreams();
  transcript.hideVisitorTyping();
  composer.disconnected();
  // 4403: not (or no longer) a staff session. Ask the API whether we are signed out.
  if (code === 4403) api.conversations("waiting", "").catch((e) => e && e.signedOut && onSignedOut());
}

let signingOut = false;
function onSignedOut() {
  if (signingOut) return;
  signingOut = true;
  ui.offline.textContent = t("signedOut");
  ui.offline.hidden = false;
  // The server sends the reload to the login page (and back here after it).
  setTimeout(() => location.reload(), 1500);
}

const handlers = {
  hello: onHello,
  event: onEvent,
  "conversation.updated": (f) => onConversationUpdated(f.conversation),
  ack: onAck,
  "takeover.failed": onTakeoverFailed,
  presence: (f) => presence.update(f.agent),
  "suggest.start": (f) => composer.suggestStart(f),
  "suggest.delta": (f) => composer.suggestDelta(f),
  "suggest.end": (f) => composer.suggestEnd(f),
  notify: (f) => notifier.notify(f),
  watching: (f) => {
    if (f.conversation_id !== watchedId) return;
    watchConfirmed = true;
    if (f.conversation_id === openId) catchUpOpen();
  },
  error: onError,
  pong: () => {},
};

function handle(frame) {
  const handler = handlers[frame.type];
  if (!handler) return;
  try {
    handler(frame);
  } catch (e) {
    // One odd frame must not take the whole console down.
    console.error("agent console: failed to handle", frame.type, e);
  }
}

/**
 * A conversation's messages, typing preview and reply deltas come only to the sockets
 * that watch it: the one in the middle pane. Watch it, and stop watching the one
 * shown before.
 */
function syncWatch() {
  if (!connected || watchedId === openId) return;
  if (watchedId !== null) conn.send({ type: "unwatch", conversation_id: watchedId });
  watchedId = null;
  watchConfirmed = false;
  if (openId !== null && conn.send({ type: "watch", conversation_id: openId })) watchedId = openId;
}

function onHello(frame) {
  connected = true;
  conn.markHealthy();
  ui.offline.hidden = true;
  presence.hello(frame.agent, frame.agents);
  syncWatch();
  // Loaded after the socket is subscribed, so nothing falls between the two;
  // after a reconnect this also brings whatever happened while we were away.
  clearTimeout(fallbackLoad);
  list.loadAll();
  if (openId !== null) refreshOpen();
  else flushOutbox(null);
}

function onEvent(frame) {
  const ev = frame.event;
  if (!ev || typeof ev !== "object") return;
  trackReplies(frame.conversation_id, ev);
  if (frame.conversation_id !== openId) return;
  switch (ev.type) {
    case "message": {
      const m = ev.message;
      if (!m) return;
      if (m.client_id) outbox.settle(m.client_id);
      transcript.addMessage(m);
      scheduleRead();
      break;
    }
    case "reply.start":
      // Before the `watching` answer its first deltas may not reach us: show it from
      // whichever comes first.
      transcript.startReply(String(ev.reply_id), { late: !(watchConfirmed && watchedId === openId) });
      break;
    case "reply.delta":
      transcript.deltaReply(String(ev.reply_id), ev.seq, ev.text);
      break;
    case "reply.end":
      transcript.endReply(String(ev.reply_id), ev.message || null);
      scheduleRead();
      break;
    case "state":
      if (readOnly) return;
      header.setState(ev.state);
      composer.setState(ev.state);
      break;
    case "csat": {
      header.setCsat(frame.conversation_id, ev.csat || null);
      const row = store.get(frame.conversation_id);
      if (row) list.update(Object.assign({}, row, { csat: ev.csat || null }));
      break;
    }
    case "agent.joined":
      // The server saves "Alice joined the conversation" as a system message,
      // which arrives as its own `message` event: nothing more to draw.
      break;
    case "typing":
      if (ev.who !== "visitor") return;
      if (ev.active) transcript.showVisitorTyping(ev.text);
      else transcript.hideVisitorTyping();
      break;
    default:
      break;
  }
}

/** Every conversation's reply start and end (their deltas come only for the open one). */
function trackReplies(id, ev) {
  if (!Number.isInteger(id)) return;
  if (ev.type === "reply.start") inFlight.start(id, String(ev.reply_id));
  else if (ev.type === "reply.end") inFlight.end(id, String(ev.reply_id));
  else if (ev.type === "state" && ev.state !== "bot") inFlight.clear(id);
}

/** A reply under way before this socket saw its `reply.start` (see RepliesInFlight.seed). */
function seedReplying(row) {
  if (row && Number.isInteger(row.id) && typeof row.replying_id === "string") inFlight.seed(row.id, row.replying_id);
}

function onConversationUpdated(row) {
  if (!row || !Number.isInteger(row.id)) return;
  seedReplying(row);
  list.update(row);
  if (row.id === openId && !readOnly) {
    header.update(row);
    composer.setState(row.state);
    if (row.unread > 0) scheduleRead();
  }
}

function onAck(frame) {
  const item = outbox.settle(frame.client_id);
  if (frame.conversation_id === openId) transcript.ack(frame.client_id, frame.message_id, item && item.type === "note");
}

function onTakeoverFailed(frame) {
  const by = frame.by && frame.by.name;
  toast(by ? t("takenBy", { name: by }) : t("takenClosed", { state: t("state_" + frame.state) }), "warning");
  if (frame.conversation_id === openId) header.render();
}

function onError(frame) {
  if (frame.client_id) {
    outbox.settle(frame.client_id);
    transcript.fail(frame.client_id, frame.detail);
    return;
  }
  if (frame.conversation_id !== undefined) {
    if (frame.conversation_id === openId) {
      composer.endBusy();
      header.render();
    }
    toast(t("errorPrefix", { detail: frame.detail || frame.code }), "error");
    return;
  }
  console.warn("agent console:", frame.code, frame.detail);
}

// --- the open conversation ------------------------------------------------------------
function showPane(on) {
  ui.empty.hidden = on;
  ui.conv.hidden = !on;
}

/** Shows conversation `id` (readOnly: an earlier conversation of the same visitor). */
async function openConversation(id, { readOnly: ro = false } = {}) {
  if (!Number.isInteger(id)) return;
  const seq = ++openSeq;
  const switching = id !== openId || ro !== readOnly;
  openId = id;
  readOnly = ro;
  if (!ro) {
    mainId = id;
    list.setActive(id);
    if (location.hash !== `#c${id}`) history.replaceState(null, "", `#c${id}`);
  }
  showPane(true);
  syncWatch();
  if (switching) {
    transcript.reset();
    const known = store.get(id);
    header.show(known || null, { readOnly: ro });
    composer.open(known || { id, state: null, site_id: null }, { readOnly: ro });
    // Opened mid-reply: the typing bubble until the next delta, then the text from
    // there on; reply.end brings the whole saved message.
    const replyId = inFlight.latest(id);
    if (replyId !== null) transcript.startReply(replyId, { late: true });
  }
  const since = store.mark();
  let data;
  try {
    data = await api.conversation(id);
  } catch (e) {
    if (seq !== openSeq) return;
    if (e && e.signedOut) onSignedOut();
    else toast(t("errorPrefix", { detail: e && e.status === 404 ? "404" : e.message }), "error");
    return;
  }
  if (seq !== openSeq) return;
  applyDetail(data, since);
  if (!ro) composer.focus();
}

/**
 * Once `watching` confirms, every new message of the open conversation reaches this
 * socket; one saved between the detail's read and that moment reached only the
 * inbox row. Read the detail once more (merged, so nothing shows twice).
 */
function catchUpOpen() {
  const id = openId;
  api.conversation(id).then(
    (data) => {
      if (id !== openId || !Array.isArray(data.messages)) return;
      transcript.load(data.messages);
      scheduleRead();
    },
    (e) => e && e.signedOut && onSignedOut(),
  );
}

/** After a reconnect: the missed events are in the detail (merged, never cleared). */
function refreshOpen() {
  const id = openId;
  const seq = ++openSeq;
  const since = store.mark();
  api.conversation(id).then(
    (data) => seq === openSeq && id === openId && applyDetail(data, since),
    (e) => e && e.signedOut && onSignedOut(),
  );
}

function applyDetail(data, since) {
  const row = data.conversation;
  const messages = Array.isArray(data.messages) ? data.messages : [];
  if (row && Number.isInteger(row.id) && !readOnly) {
    store.offer(row, since);
    const fresh = store.get(row.id) || row;
    header.show(fresh, { readOnly });
    composer.update(fresh);
  } else if (row) {
    header.show(row, { readOnly: true });
    composer.update(row);
  }
  // Replies still streaming stay (below the saved messages); a reply that ended
  // meanwhile is settled by its reply.end or found saved in `messages`.
  transcript.load(messages);
  header.setVisitorEmail(data.visitor && data.visitor.email);
  if (readOnly) visitorPanel.markShown(openId);
  else visitorPanel.render(data.visitor, data.previous, openId);
  flushOutbox(messages);
  scheduleRead();
}

/** Resends replies whose ack never came (unless the refetched transcript has them). */
function flushOutbox(messages) {
  if (!connected) return;
  const saved = new Set((messages || []).map((m) => m && m.client_id).filter(Boolean));
  outbox.flush(
    saved,
    (frame) => conn.send(frame),
    (clientId, item) => {
      if (item.conversation_id !== openId || transcript.hasPending(clientId)) return;
      transcript.addPending({
        client_id: clientId,
        text: item.text,
        attachments: item.attachments,
        internal: item.type === "note",
        agent_name: presence.me.name,
      });
    },
  );
}

function submitReply(text, internal, attachments = []) {
  if (openId === null || readOnly) return;
  const clientId = outbox.add(openId, internal ? "note" : "reply", text, attachments);
  transcript.addPending({
    client_id: clientId,
    text,
    attachments,
    internal,
    agent_name: presence.me.name,
    created_at: new Date().toISOString(),
  });
  // Offline it waits in the outbox for the next hello.
  send(Outbox.frame(clientId, outbox.get(clientId)));
}

// --- layout ------------------------------------------------------------------------------
const PANEL_KEY = "helpdesk.agent.panelCollapsed";

function togglePanel() {
  const collapsed = !ui.app.classList.contains("ac-panel-collapsed");
  ui.app.classList.toggle("ac-panel-collapsed", collapsed);
  byTestId("toggle-visitor-panel").setAttribute("aria-expanded", collapsed ? "false" : "true");
  try {
    localStorage.setItem(PANEL_KEY, collapsed ? "1" : "0");
  } catch (e) {
    /* private mode */
  }
}

function boot() {
  document.documentElement.lang = language() === "zh" ? "zh-Hans" : "en";
  localize(document);
  notifier.setBaseTitle(`${t("title")} · ${t("product")}`);
  byTestId("visitor-typing").prepend(dots());
  let collapsed = false;
  try {
    collapsed = localStorage.getItem(PANEL_KEY) === "1";
  } catch (e) {
    collapsed = false;
  }
  ui.app.classList.toggle("ac-panel-collapsed", collapsed);
  byTestId("toggle-visitor-panel").setAttribute("aria-expanded", collapsed ? "false" : "true");
  showPane(false);
  visitorPanel.clear();

  document.addEventListener("keydown", (event) => {
    // Ctrl/Cmd+K: search.
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      event.preventDefault();
      byTestId("search").focus();
    }
  });
  window.addEventListener("beforeunload", () => composer.stopTyping());

  // The lists load on `hello`; if the socket cannot connect, load them anyway.
  fallbackLoad = setTimeout(() => list.loadAll(), 3000);
  const m = /^#c(\d+)$/.exec(location.hash);
  if (m) openConversation(Number(m[1]));
  start();
}

boot();
