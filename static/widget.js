/*
 * Helpdesk chat widget loader.
 *
 *   <script src="https://HELPDESK/static/widget.js" data-site="PUBLIC_KEY" async></script>
 *
 * Runs on the customer's page, so it is deliberately small and defensive: one
 * IIFE, no globals except window.Helpdesk, every element under a #helpdesk-
 * id. The chat itself lives in an iframe served by the helpdesk origin; this
 * file only draws the launcher and talks to that iframe through postMessage
 * (always with an explicit target origin, and only accepting messages from
 * that exact iframe window on that exact origin).
 *
 * Page -> iframe: helpdesk:init, helpdesk:identify, helpdesk:visibility
 * iframe -> page: helpdesk:ready, helpdesk:close, helpdesk:unread
 */
(function () {
  "use strict";

  // Included twice (e.g. a tag manager plus a hard-coded tag): keep the first.
  if (window.Helpdesk && window.Helpdesk.__helpdesk) return;

  const script =
    document.currentScript ||
    document.querySelector('script[data-site][src*="widget.js"]');
  if (!script || !script.src) return;

  const BASE = new URL(script.src, location.href).origin;
  const KEY = script.getAttribute("data-site") || "";
  const DEFAULTS = { name: "", color: "#2563eb", position: "right", greeting: "" };
  let labels = { chat: "Chat", open: "Open chat", unread: "{count} unread" };
  const SVG_NS = "http://www.w3.org/2000/svg";
  const ICON_CHAT =
    "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-4.2 3.4A.5.5 0 0 1 4 21v-3a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z" +
    "M7 9.5a1.25 1.25 0 1 0 0 .01zM12 9.5a1.25 1.25 0 1 0 0 .01zM17 9.5a1.25 1.25 0 1 0 0 .01z";
  const ICON_CLOSE =
    "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z";

  // Calls made before this script loaded, snippet style:
  //   window.Helpdesk = window.Helpdesk || []; Helpdesk.push(["identify", {...}]);
  // Array-like so that `arguments` objects pushed by other snippet styles work too.
  const early = window.Helpdesk;
  const earlyCalls =
    early && typeof early.length === "number" ? Array.prototype.slice.call(early) : [];

  let root = null;
  let launcher = null;
  let badge = null;
  let panel = null;
  let frame = null;
  let isOpen = false;
  let mounted = false;
  // True once the iframe's document is ours (load or helpdesk:ready seen);
  // before that a postMessage would hit about:blank and be dropped.
  let frameReady = false;
  const afterMount = [];
  // identify calls not yet delivered to the iframe, in call order.
  const pendingIdentify = [];

  // --- styles ---------------------------------------------------------------
  // Every selector starts with a #helpdesk- id: id specificity beats the host
  // page's type/class rules, and nothing here can match the host's elements.
  // `all: initial` first so inherited host styles (fonts, line-height, box
  // sizing, text-transform...) cannot leak into the widget. Every declaration
  // is made !important when injected (see importantly()), so even a host's
  // `button { padding: 0 !important }` loses to our id selectors.
  const CSS = `
#helpdesk-root, #helpdesk-launcher, #helpdesk-unread, #helpdesk-panel, #helpdesk-frame {
  all: initial;
}
#helpdesk-root {
  position: fixed; z-index: 2147483000; bottom: 0; right: 0; width: 0; height: 0;
  font: 600 12px/1 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
#helpdesk-launcher {
  position: fixed; bottom: 20px; right: 20px; width: 60px; height: 60px;
  display: flex; align-items: center; justify-content: center;
  border-radius: 50%; cursor: pointer; color: #fff; background: var(--helpdesk-color, #2563eb);
  box-shadow: 0 4px 14px rgba(0, 0, 0, .25);
  transition: transform .15s ease, box-shadow .15s ease, opacity .2s ease;
  -webkit-tap-highlight-color: transparent;
}
#helpdesk-root[data-position="left"] #helpdesk-launcher { right: auto; left: 20px; }
#helpdesk-root[data-ready="false"] #helpdesk-launcher { opacity: 0; pointer-events: none; }
#helpdesk-launcher:hover { transform: scale(1.06); box-shadow: 0 6px 18px rgba(0, 0, 0, .3); }
#helpdesk-launcher:focus-visible { outline: 3px solid #fff; box-shadow: 0 0 0 6px rgba(0, 0, 0, .45); }
#helpdesk-launcher svg { width: 28px; height: 28px; fill: currentColor; display: block; margin: 0; padding: 0; }
#helpdesk-launcher path { fill: currentColor; }
#helpdesk-launcher .helpdesk-icon-close { display: none; }
#helpdesk-root[data-open="true"] #helpdesk-launcher .helpdesk-icon-chat { display: none; }
#helpdesk-root[data-open="true"] #helpdesk-launcher .helpdesk-icon-close { display: block; }
#helpdesk-unread {
  position: absolute; top: -4px; right: -4px; min-width: 20px; height: 20px; padding: 0 6px;
  box-sizing: border-box; border-radius: 10px; border: 2px solid #fff;
  background: #dc2626; color: #fff; font: inherit; font-size: 11px; line-height: 16px;
  text-align: center; display: block;
}
#helpdesk-unread[hidden] { display: none; }
#helpdesk-panel {
  position: fixed; bottom: 96px; right: 20px; width: 380px; height: 600px;
  max-width: calc(100vw - 40px); max-height: calc(100vh - 116px);
  border-radius: 16px; overflow: hidden; background: #fff;
  box-shadow: 0 12px 40px rgba(0, 0, 0, .22), 0 2px 8px rgba(0, 0, 0, .12);
  display: block; visibility: hidden; opacity: 0; transform: translateY(12px);
  transition: opacity .2s ease, transform .2s ease, visibility 0s linear .2s;
}
#helpdesk-root[data-position="left"] #helpdesk-panel { right: auto; left: 20px; }
#helpdesk-root[data-open="true"] #helpdesk-panel {
  visibility: visible; opacity: 1; transform: none;
  transition: opacity .2s ease, transform .2s ease, visibility 0s;
}
/* visibility must follow the panel: all: initial would pin it to visible. */
#helpdesk-frame { display: block; width: 100%; height: 100%; border: 0; background: #fff; visibility: inherit; }
@media (max-width: 479px) {
  #helpdesk-panel, #helpdesk-root[data-position="left"] #helpdesk-panel {
    top: 0; right: 0; bottom: 0; left: 0; width: 100%; height: 100%;
    max-width: none; max-height: none; border-radius: 0;
  }
  /* The iframe has its own close button, and the launcher would cover the composer. */
  #helpdesk-root[data-open="true"] #helpdesk-launcher { display: none; }
}
@media (prefers-reduced-motion: reduce) {
  #helpdesk-launcher, #helpdesk-panel, #helpdesk-root[data-open="true"] #helpdesk-panel { transition: none; }
}
`;

  /** Comments dropped, then every declaration marked !important. */
  function importantly(css) {
    return css.replace(/\/\*[\s\S]*?\*\//g, "").replace(/;/g, " !important;");
  }

  // --- DOM --------------------------------------------------------------------
  function icon(path, cls) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", cls);
    const p = document.createElementNS(SVG_NS, "path");
    p.setAttribute("d", path);
    p.setAttribute("fill-rule", "evenodd");
    svg.appendChild(p);
    return svg;
  }

  function mount() {
    if (mounted) return;
    mounted = true;

    const style = document.createElement("style");
    // Hosts with a nonce-based CSP put a nonce on our script tag; reuse it so
    // the stylesheet is allowed too.
    if (script.nonce) style.nonce = script.nonce;
    style.id = "helpdesk-style";
    style.textContent = importantly(CSS);

    root = document.createElement("div");
    root.id = "helpdesk-root";
    root.setAttribute("data-open", "false");
    root.setAttribute("data-ready", "false");
    root.setAttribute("data-position", "right");

    panel = document.createElement("div");
    panel.id = "helpdesk-panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", "Chat");

    launcher = document.createElement("button");
    launcher.id = "helpdesk-launcher";
    launcher.type = "button";
    launcher.setAttribute("aria-label", "Open chat");
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", "helpdesk-panel");
    launcher.appendChild(icon(ICON_CHAT, "helpdesk-icon-chat"));
    launcher.appendChild(icon(ICON_CLOSE, "helpdesk-icon-close"));
    badge = document.createElement("span");
    badge.id = "helpdesk-unread";
    badge.hidden = true;
    badge.setAttribute("aria-live", "polite");
    launcher.appendChild(badge);
    launcher.addEventListener("click", toggle);

    root.appendChild(style);
    root.appendChild(panel);
    root.appendChild(launcher);
    document.body.appendChild(root);

    while (afterMount.length) afterMount.shift()();
  }

  function whenMounted(fn) {
    if (mounted) fn();
    else afterMount.push(fn);
  }

  function applyConfig(cfg) {
    // Validated because it is only ever used for styling; anything odd falls
    // back to the defaults rather than reaching the host page's CSSOM.
    const color = /^#[0-9a-fA-F]{3,8}$/.test(cfg.color || "") ? cfg.color : DEFAULTS.color;
    const position = cfg.position === "left" ? "left" : "right";
    // Labels come translated for the browser's language (Accept-Language);
    // set as attributes only, never as markup.
    labels = Object.assign({}, labels, typeof cfg.labels === "object" ? cfg.labels : {});
    whenMounted(() => {
      root.style.setProperty("--helpdesk-color", color);
      root.setAttribute("data-position", position);
      panel.setAttribute("aria-label", String(labels.chat));
      launcher.setAttribute("aria-label", String(labels.open));
      root.setAttribute("data-ready", "true");
    });
  }

  function loadConfig() {
    const ctrl = typeof AbortController === "function" ? new AbortController() : null;
    const timer = setTimeout(() => ctrl && ctrl.abort(), 5000);
    fetch(BASE + "/widget/config.json?site=" + encodeURIComponent(KEY), {
      credentials: "omit",
      signal: ctrl ? ctrl.signal : undefined,
    })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status))))
      .then((cfg) => applyConfig(Object.assign({}, DEFAULTS, cfg || {})))
      .catch(() => applyConfig(DEFAULTS))
      .finally(() => clearTimeout(timer));
  }

  // --- iframe -------------------------------------------------------------------
  function ensureFrame() {
    if (frame) return;
    frame = document.createElement("iframe");
    frame.id = "helpdesk-frame";
    frame.title = "Chat";
    frame.setAttribute("allow", "clipboard-write");
    frame.src = BASE + "/widget/?site=" + encodeURIComponent(KEY);
    // The iframe may start before or after `load` fires here (it also says
    // helpdesk:ready when its script starts), so both paths deliver.
    frame.addEventListener("load", deliver);
    panel.appendChild(frame);
  }

  function post(msg) {
    // Until then the frame still holds about:blank (the host's origin); what
    // is skipped here is sent by deliver() once the frame is ready.
    if (!frameReady || !frame || !frame.contentWindow) return;
    // Explicit target origin: if the iframe was navigated elsewhere, the
    // browser drops the message instead of leaking page details.
    frame.contentWindow.postMessage(msg, BASE);
  }

  function deliver() {
    frameReady = true;
    post({
      type: "helpdesk:init",
      site: KEY,
      pageUrl: location.href,
      referrer: document.referrer,
      title: document.title,
      language: navigator.language,
    });
    post({ type: "helpdesk:visibility", open: isOpen });
    while (pendingIdentify.length) post(pendingIdentify.shift());
  }

  window.addEventListener("message", (event) => {
    if (event.origin !== BASE || !frame || event.source !== frame.contentWindow) return;
    const data = event.data;
    if (!data || typeof data !== "object") return;
    switch (data.type) {
      case "helpdesk:ready":
        deliver();
        break;
      case "helpdesk:close":
        close();
        break;
      case "helpdesk:unread":
        setUnread(isOpen ? 0 : data.count);
        break;
      default:
        break;
    }
  });

  function setUnread(count) {
    const n = Math.max(0, Math.floor(Number(count) || 0));
    whenMounted(() => {
      badge.textContent = n > 99 ? "99+" : String(n);
      badge.hidden = n === 0;
      if (n > 0) badge.setAttribute("aria-label", String(labels.unread).replace("{count}", n));
      else badge.removeAttribute("aria-label");
    });
  }

  // --- public API -------------------------------------------------------------
  function open() {
    whenMounted(() => {
      ensureFrame();
      if (isOpen) return;
      isOpen = true;
      root.setAttribute("data-open", "true");
      launcher.setAttribute("aria-expanded", "true");
      setUnread(0);
      post({ type: "helpdesk:visibility", open: true });
      // Lets keyboard users type straight away; the iframe focuses its composer.
      try {
        frame.focus();
      } catch (e) {
        /* ignore */
      }
    });
  }

  function close() {
    whenMounted(() => {
      if (!isOpen) return;
      isOpen = false;
      const hadFocus = document.activeElement === frame;
      root.setAttribute("data-open", "false");
      launcher.setAttribute("aria-expanded", "false");
      post({ type: "helpdesk:visibility", open: false });
      if (hadFocus) launcher.focus();
    });
  }

  function toggle() {
    if (isOpen) close();
    else open();
  }

  function identify(attrs) {
    let attributes;
    try {
      // Drops functions, DOM nodes and the like that postMessage cannot clone.
      attributes = JSON.parse(JSON.stringify(attrs || {}));
    } catch (e) {
      return;
    }
    if (!attributes || typeof attributes !== "object" || Array.isArray(attributes)) return;
    pendingIdentify.push({ type: "helpdesk:identify", attributes });
    whenMounted(() => {
      // Creating the (hidden) iframe connects the visitor so the identity
      // reaches the agents before the chat is ever opened.
      ensureFrame();
      // A loaded iframe gets it now; otherwise load/ready will deliver it.
      if (frameReady) while (pendingIdentify.length) post(pendingIdentify.shift());
    });
  }

  const api = { open, close, toggle, identify };

  function call(entry) {
    const args = entry && typeof entry.length === "number" ? Array.prototype.slice.call(entry) : [];
    const name = args.shift();
    if (Object.prototype.hasOwnProperty.call(api, name)) api[name].apply(null, args);
  }

  window.Helpdesk = Object.freeze(
    Object.assign({}, api, {
      // Snippets keep calling Helpdesk.push([...]) after we load; honour that.
      push: function () {
        for (let i = 0; i < arguments.length; i++) call(arguments[i]);
      },
      __helpdesk: true,
    })
  );

  // --- start ----------------------------------------------------------------------
  loadConfig();
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
  earlyCalls.forEach(call);
})();
