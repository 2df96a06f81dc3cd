// Files in a conversation, shared by the widget and the agent console:
// uploading with progress (XMLHttpRequest: fetch reports no upload progress),
// the composer's tray of files waiting to be sent, and the thumbnails and
// file chips inside message bubbles. File names are user text: they only
// ever reach the page through textContent and attributes, never innerHTML.

/** "2.4 MB" */
export function formatSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Only our own same-origin attachment URLs are ever put in src/href. */
function safeUrl(url) {
  try {
    const u = new URL(String(url || ""), location.href);
    return u.origin === location.origin && u.pathname.startsWith("/attachments/") ? u.href : null;
  } catch (e) {
    return null;
  }
}

/**
 * POST one file; resolves with the attachment ({id, name, type, size, width, height, url}),
 * rejects with Error(detail). onProgress(0..100) while the bytes go up.
 */
export function uploadFile(url, file, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.withCredentials = true;
    for (const [key, value] of Object.entries(headers || {})) xhr.setRequestHeader(key, value);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && onProgress) onProgress(Math.round((event.loaded / event.total) * 100));
    };
    xhr.onload = () => {
      let body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch (e) {
        body = {};
      }
      if (xhr.status === 201 && Number.isInteger(body.id)) resolve(body);
      else reject(new Error(body.detail || `HTTP ${xhr.status}`));
    };
    xhr.onerror = () => reject(new Error("network"));
    const form = new FormData();
    form.append("file", file, file.name || "file");
    xhr.send(form);
  });
}

/**
 * The files under a bubble's text. `prefix` is the page's class prefix ("hd" or "ac");
 * `label(key, vars)` translates.
 */
export function attachmentsNode(attachments, prefix, label) {
  const list = Array.isArray(attachments) ? attachments : [];
  const wrap = document.createElement("div");
  wrap.className = `${prefix}-attachments`;
  for (const a of list) {
    const url = safeUrl(a && a.url);
    if (!a || !url) continue;
    const name = String(a.name || "file");
    const link = document.createElement("a");
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.setAttribute("data-attachment-id", String(a.id));
    if (String(a.type || "").startsWith("image/")) {
      link.className = `${prefix}-att-image`;
      link.setAttribute("data-testid", "attachment-image");
      const img = document.createElement("img");
      img.src = url;
      img.alt = name;
      img.loading = "lazy";
      if (a.width && a.height) {
        img.width = Math.min(240, a.width);
        img.height = Math.round((img.width / a.width) * a.height);
      }
      link.appendChild(img);
    } else {
      link.className = `${prefix}-att-file`;
      link.setAttribute("data-testid", "attachment-file");
      link.setAttribute("download", name);
      link.title = label("download", { name });
      const icon = document.createElement("span");
      icon.className = `${prefix}-att-icon`;
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = "📄";
      const title = document.createElement("span");
      title.className = `${prefix}-att-name`;
      title.textContent = name;
      const size = document.createElement("span");
      size.className = `${prefix}-att-size`;
      size.textContent = formatSize(a.size);
      link.append(icon, title, size);
    }
    wrap.appendChild(link);
  }
  wrap.hidden = !wrap.firstChild;
  return wrap;
}

/** Replaces the attachments shown in `bubble` (a .xx-bubble element). */
export function setAttachments(bubble, attachments, prefix, label) {
  if (!bubble) return;
  const old = bubble.querySelector(`.${prefix}-attachments`);
  const fresh = attachmentsNode(attachments, prefix, label);
  if (old) old.replaceWith(fresh);
  else bubble.appendChild(fresh);
}

/**
 * Files picked for the next message: each uploads at once and shows a chip
 * with its progress, then its name (or its error); `ready()` is what may be sent.
 */
export class AttachmentTray {
  /**
   * @param {HTMLElement} node the tray element
   * @param {{prefix: string, label: (key: string, vars?: object) => string,
   *          upload: (file: File, onProgress: (n: number) => void) => Promise<object>,
   *          onChange?: () => void}} options
   */
  constructor(node, { prefix, label, upload, onChange }) {
    this.node = node;
    this.prefix = prefix;
    this.label = label;
    this.upload = upload;
    this.onChange = onChange || (() => {});
    this.items = []; // {file, chip, state: "uploading" | "ready" | "failed", attachment}
    this.render();
  }

  add(files) {
    for (const file of Array.from(files || [])) {
      if (!file) continue;
      const item = { file, state: "uploading", attachment: null, chip: this.chip(file) };
      this.items.push(item);
      this.node.appendChild(item.chip);
      this.upload(file, (percent) => this.progress(item, percent)).then(
        (attachment) => {
          item.state = "ready";
          item.attachment = attachment;
          this.status(item, formatSize(attachment.size));
          item.chip.setAttribute("data-state", "ready");
          this.render();
        },
        (error) => {
          item.state = "failed";
          item.chip.setAttribute("data-state", "failed");
          this.status(item, this.label("uploadFailed", { detail: error.message }));
          this.render();
        },
      );
    }
    this.render();
  }

  chip(file) {
    const p = this.prefix;
    const chip = document.createElement("div");
    chip.className = `${p}-tray-item`;
    chip.setAttribute("data-testid", "attachment-chip");
    chip.setAttribute("data-state", "uploading");
    const name = document.createElement("span");
    name.className = `${p}-tray-name`;
    name.textContent = String(file.name || "file");
    const status = document.createElement("span");
    status.className = `${p}-tray-status`;
    status.setAttribute("role", "status");
    status.textContent = this.label("uploading", { percent: 0 });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = `${p}-tray-remove`;
    remove.textContent = "×";
    const removeLabel = this.label("removeAttachment", { name: String(file.name || "") });
    remove.setAttribute("aria-label", removeLabel);
    remove.title = removeLabel;
    remove.addEventListener("click", () => {
      this.items = this.items.filter((i) => i.chip !== chip);
      chip.remove();
      this.render();
    });
    chip.append(name, status, remove);
    return chip;
  }

  progress(item, percent) {
    if (item.state === "uploading") this.status(item, this.label("uploading", { percent }));
  }

  status(item, text) {
    const status = item.chip.querySelector(`.${this.prefix}-tray-status`);
    if (status) status.textContent = text;
  }

  /** Uploaded attachments, in the order they were picked. */
  ready() {
    return this.items.filter((i) => i.state === "ready").map((i) => i.attachment);
  }

  get busy() {
    return this.items.some((i) => i.state === "uploading");
  }

  clear() {
    this.items = [];
    this.node.textContent = "";
    this.render();
  }

  render() {
    this.node.hidden = !this.items.length;
    this.onChange();
  }
}
