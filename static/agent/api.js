// The console's HTTP API (docs/protocol.md, "Data the console loads over
// HTTP"): JSON GETs with the staff session cookie.

export class ApiError extends Error {
  constructor(status, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    // The session is gone: the API answered 401/403 or sent us to the login page.
    this.signedOut = status === 401 || status === 403;
  }
}

export class Api {
  /** @param {string} base e.g. "/agent/api/" */
  constructor(base) {
    this.base = String(base || "/agent/api/").replace(/\/?$/, "/");
  }

  async get(path, params, signal) {
    const url = new URL(this.base + path, location.href);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
    }
    const response = await fetch(url.href, {
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" },
      cache: "no-store",
      signal,
    });
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok) throw new ApiError(response.status);
    // A redirect to the login page comes back as 200 HTML.
    if (!type.includes("json")) throw new ApiError(response.redirected ? 401 : 500, "not JSON");
    return response.json();
  }

  /** {conversations: [ConversationRow]} */
  conversations(tab, q, signal) {
    return this.get("conversations/", { tab, q }, signal);
  }

  /** {conversation, messages, visitor, previous} */
  conversation(id, signal) {
    return this.get(`conversations/${encodeURIComponent(id)}/`, null, signal);
  }

  /** {agents: [AgentRow]} */
  agents() {
    return this.get("agents/");
  }

  /** {canned: [{shortcut, text}]} */
  canned(siteId) {
    return this.get("canned/", { site: siteId });
  }
}
