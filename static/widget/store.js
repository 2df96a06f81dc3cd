// localStorage, namespaced per site key. Storage can be unavailable in a
// third-party iframe (blocked cookies, Safari private mode, quota), so every
// access is guarded and falls back to memory for the life of the page.

const memory = new Map();

function read(key) {
  try {
    return window.localStorage.getItem(key);
  } catch (e) {
    return memory.has(key) ? memory.get(key) : null;
  }
}

function write(key, value) {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch (e) {
    if (value === null) memory.delete(key);
    else memory.set(key, value);
  }
}

function readJSON(key, fallback) {
  try {
    const raw = read(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch (e) {
    return fallback;
  }
}

// Transcript cache cap: enough for any real conversation view, small enough
// to stay far from the ~5 MB storage quota.
const MAX_CACHED = 200;

export function createStore(siteKey) {
  const k = (name) => `helpdesk.${name}.${siteKey}`;

  return {
    get token() {
      return read(k("token"));
    },
    set token(value) {
      write(k("token"), value || null);
    },

    get lastSeen() {
      const n = parseInt(read(k("lastSeen")) || "", 10);
      return Number.isFinite(n) && n > 0 ? n : 0;
    },
    set lastSeen(id) {
      write(k("lastSeen"), id > 0 ? String(id) : null);
    },

    get conversation() {
      const n = parseInt(read(k("conversation")) || "", 10);
      return Number.isFinite(n) ? n : null;
    },
    set conversation(id) {
      write(k("conversation"), id === null || id === undefined ? null : String(id));
    },

    /** Unacknowledged visitor messages [{client_id, text, created_at}], oldest first. */
    get outbox() {
      const list = readJSON(k("outbox"), []);
      const hasFiles = (m) => Array.isArray(m.attachments) && m.attachments.length > 0;
      return Array.isArray(list) ? list.filter((m) => m && m.client_id && (m.text || hasFiles(m))) : [];
    },
    set outbox(list) {
      write(k("outbox"), list.length ? JSON.stringify(list) : null);
    },

    /**
     * Saved messages of the current conversation, so a new page load (the
     * iframe starts empty) can redraw the transcript and resume with
     * last_seen_id instead of losing everything above it.
     */
    cachedMessages(conversationId) {
      const cache = readJSON(k("transcript"), null);
      if (!cache || cache.conversation_id !== conversationId || !Array.isArray(cache.messages)) {
        return [];
      }
      return cache.messages.filter((m) => m && Number.isInteger(m.id));
    },

    /**
     * Merges (not replaces) so two tabs of the same site never drop each
     * other's messages: lastSeen must never point past what the cache holds.
     */
    cacheMessage(message, replace = false) {
      if (!Number.isInteger(message.id) || !Number.isInteger(message.conversation_id)) return;
      let cache = readJSON(k("transcript"), null);
      if (!cache || cache.conversation_id !== message.conversation_id) {
        cache = { conversation_id: message.conversation_id, messages: [] };
      }
      const messages = Array.isArray(cache.messages) ? cache.messages : [];
      const at = messages.findIndex((m) => m && m.id === message.id);
      if (at >= 0 && replace) messages[at] = message;
      else if (at < 0) {
        messages.push(message);
        messages.sort((a, b) => a.id - b.id);
      }
      cache.messages = messages.slice(-MAX_CACHED);
      write(k("transcript"), JSON.stringify(cache));
    },

    /** The conversation whose rating prompt the visitor closed: not asked again for it. */
    get csatDismissed() {
      const n = parseInt(read(k("csatDismissed")) || "", 10);
      return Number.isFinite(n) ? n : null;
    },
    set csatDismissed(id) {
      write(k("csatDismissed"), id === null || id === undefined ? null : String(id));
    },

    clearTranscript() {
      write(k("transcript"), null);
      write(k("lastSeen"), null);
    },
  };
}
