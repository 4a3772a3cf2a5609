/*
 * The gateway's web page, in plain JavaScript: no framework, no build step, nothing
 * fetched from elsewhere. It speaks only the HTTP API of docs/gateway.md:
 *
 *   buckets   GET/POST /api/v1/buckets, GET/DELETE /api/v1/buckets/{bucket}
 *   objects   GET .../objects?filter&sort&order&offset&limit (one page at a time, so a
 *             bucket of 10,000 objects costs what one page costs), PUT/GET/DELETE
 *             .../objects/{name}, POST .../get|update|restore, GET .../versions/{name}
 *   history   GET .../history/{name}?limit: the object's audit records, shown under its
 *             info; a 501 (no audit file configured) hides the section for the session
 *   live      EventSource on .../events: a put or delete re-reads the page on show
 *
 * Every piece of user data reaches the DOM through textContent or an attribute, never
 * as HTML. Object names may hold slashes and any UTF-8: each path segment is encoded
 * on its own (objectPath). API errors arrive as {"error": {"description", ...}} and are
 * shown in the status area, which is an aria-live region.
 */
"use strict";

(() => {
  const API = "/api/v1";
  const PARALLEL_UPLOADS = 3;
  const DEFAULT_ORDER = { name: "asc", size: "desc", modified: "desc" };

  const state = {
    buckets: [],
    bucket: null, // the selected bucket's name
    filter: "",
    sort: "name",
    order: "asc",
    offset: 0,
    limit: 50,
    total: 0,
    objects: [],
    listAbort: null,
    listDirty: false, // a live change arrived while a listing was under way
    statusBusy: false,
    statusDirty: false,
    events: null,
    eventsRetry: 0,
    historyOff: false, // the gateway answered 501: it has no audit trail to read
  };

  const $ = (id) => document.getElementById(id);

  // ---- paths, formatting ------------------------------------------------------

  function bucketPath(bucket) {
    return `${API}/buckets/${encodeURIComponent(bucket)}`;
  }

  /** Each segment of the name encoded on its own, joined with "/". */
  function encodeName(name) {
    return name.split("/").map(encodeURIComponent).join("/");
  }

  function objectPath(bucket, name) {
    return `${bucketPath(bucket)}/objects/${encodeName(name)}`;
  }

  function baseName(name) {
    const parts = name.split("/").filter(Boolean);
    return parts.length ? parts[parts.length - 1] : "download";
  }

  const numberFormat = new Intl.NumberFormat();
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function formatCount(n) {
    return numberFormat.format(n || 0);
  }

  function formatBytes(n) {
    if (n === null || n === undefined || n < 0) return "—";
    if (n < 1024) return `${n} B`;
    const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let value = n;
    let unit = -1;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
  }

  /** RFC 3339 with nanoseconds to a Date (null for Go's zero time or garbage). */
  function parseTime(text) {
    if (!text || text.startsWith("0001-")) return null;
    const date = new Date(text.replace(/(\.\d{3})\d+/, "$1"));
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function formatTime(text) {
    const date = parseTime(text);
    return date ? dateFormat.format(date) : "—";
  }

  function formatDuration(seconds) {
    if (!seconds) return "never";
    const parts = [];
    let rest = Math.round(seconds);
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
      if (rest >= size) {
        parts.push(`${Math.floor(rest / size)}${unit}`);
        rest %= size;
      }
    }
    return parts.slice(0, 2).join(" ") || `${seconds}s`;
  }

  function shortDigest(digest) {
    if (!digest) return "—";
    const value = digest.includes("=") ? digest.slice(digest.indexOf("=") + 1) : digest;
    return `${value.slice(0, 10)}…`;
  }

  /** fn at most once per ``ms``, and always once after the last call (live events come in bursts). */
  function coalesce(fn, ms) {
    let timer = 0;
    return () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = 0;
        fn();
      }, ms);
    };
  }

  function debounce(fn, ms) {
    let timer = 0;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  // ---- DOM building -----------------------------------------------------------

  /** el("td", {class: "num", dataset: {label: "Size"}}, "12 KiB", child...) */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    for (const child of children) node.append(child instanceof Node ? child : String(child));
    return node;
  }

  const ICONS = {
    download: "M12 4v11m0 0-4.5-4.5M12 15l4.5-4.5M5 19.5h14",
    link: "M10 14a4 4 0 0 0 5.66 0l3-3a4 4 0 1 0-5.66-5.66l-1 1M14 10a4 4 0 0 0-5.66 0l-3 3a4 4 0 1 0 5.66 5.66l1-1",
    info: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM12 11v5.5M12 7.6v.1",
    edit: "M4 20h4L19 9l-4-4L4 16v4zM13 7l4 4",
    versions: "M3.5 12a8.5 8.5 0 1 0 2.6-6.1M3.5 4.5V9H8M12 7.5V12l3 2",
    trash: "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
    close: "M6 6l12 12M18 6 6 18",
  };

  function icon(name) {
    return svg("svg", { viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" },
      svg("path", { d: ICONS[name] }));
  }

  function iconButton(iconName, label, attrs) {
    return el("button", { type: "button", class: "icon-button", "aria-label": label, title: label, ...attrs },
      icon(iconName));
  }

  /** Run render(), then give focus back to the element that had it (rows are rebuilt). */
  function keepingFocus(container, keyAttr, render) {
    const active = document.activeElement;
    let key = null;
    let action = null;
    if (active && container.contains(active)) {
      const row = active.closest(`[${keyAttr}]`);
      key = row ? row.getAttribute(keyAttr) : null;
      action = active.dataset.action || null;
    }
    render();
    if (key === null) return;
    const row = [...container.querySelectorAll(`[${keyAttr}]`)].find((r) => r.getAttribute(keyAttr) === key);
    const target = row && (action ? row.querySelector(`[data-action="${action}"]`) : null);
    if (target) target.focus();
  }

  // ---- the API ----------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status, errCode) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.errCode = errCode;
    }
  }

  function parseJson(text) {
    try {
      return text ? JSON.parse(text) : null;
    } catch {
      return null;
    }
  }

  function errorFrom(status, statusText, body) {
    const error = body && body.error;
    if (error && error.description) return new ApiError(error.description, status, error.err_code);
    return new ApiError(`HTTP ${status}${statusText ? ` ${statusText}` : ""}`, status);
  }

  async function api(method, path, body, signal) {
    const init = { method, headers: { Accept: "application/json" }, signal };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError("the gateway cannot be reached", 0);
    }
    const data = parseJson(await response.text());
    if (!response.ok) throw errorFrom(response.status, response.statusText, data);
    return data;
  }

  // ---- status area ------------------------------------------------------------

  let statusTimer = 0;

  /** Show a message in the aria-live status area; errors stay until dismissed. */
  function say(message, kind = "info") {
    const box = $("status-box");
    clearTimeout(statusTimer);
    box.dataset.kind = kind;
    $("status").textContent = message;
    $("status-close").hidden = false;
    if (kind !== "error") statusTimer = setTimeout(clearStatus, 6000);
  }

  function clearStatus() {
    $("status-box").dataset.kind = "";
    $("status").textContent = "";
    $("status-close").hidden = true;
  }

  function fail(err) {
    if (err && err.name === "AbortError") return;
    say(err && err.message ? err.message : String(err), "error");
  }

  // ---- buckets ----------------------------------------------------------------

  async function loadBuckets() {
    try {
      const data = await api("GET", `${API}/buckets`);
      state.buckets = (data.buckets || []).slice().sort((a, b) => a.bucket.localeCompare(b.bucket));
      renderBuckets();
      if (state.bucket && !findBucket(state.bucket)) {
        say(`Bucket “${state.bucket}” no longer exists`, "error");
        location.hash = "";
      }
    } catch (err) {
      fail(err);
      if (!state.buckets.length) {
        $("buckets-body").replaceChildren(placeholderRow(9, "The bucket list could not be loaded."));
      }
    }
  }

  function findBucket(name) {
    return state.buckets.find((b) => b.bucket === name) || null;
  }

  function placeholderRow(columns, text) {
    return el("tr", { class: "placeholder" }, el("td", { colspan: columns }, text));
  }

  function renderBuckets() {
    const body = $("buckets-body");
    keepingFocus(body, "data-bucket", () => {
      if (!state.buckets.length) {
        body.replaceChildren(placeholderRow(9, "No buckets yet. Create one below."));
        return;
      }
      body.replaceChildren(...state.buckets.map(bucketRow));
    });
    renderChart();
    renderSelection();
  }

  function bucketRow(b) {
    const selected = b.bucket === state.bucket;
    return el("tr", { "data-bucket": b.bucket, "aria-current": selected ? "true" : null },
      el("td", { class: "cell-main" },
        el("button", {
          type: "button", class: "bucket-link", "data-action": "select",
          "aria-current": selected ? "true" : null,
          "aria-label": `${b.bucket}: show objects`,
        }, b.bucket),
        b.description ? el("span", { class: "bucket-desc", title: b.description }, b.description) : null),
      el("td", { class: "num", dataset: { label: "Objects" } }, formatCount(b.object_count)),
      el("td", { class: "num", dataset: { label: "Size" }, title: `${formatCount(b.size)} bytes stored` },
        formatBytes(b.size)),
      el("td", { dataset: { label: "Compression" } },
        el("span", { class: b.compression && b.compression !== "none" ? "badge on" : "badge" },
          b.compression || "none")),
      el("td", { class: "num", dataset: { label: "History" } }, formatCount(b.history)),
      el("td", { dataset: { label: "TTL" } }, formatDuration(b.ttl)),
      el("td", { dataset: { label: "Sealed" } },
        b.sealed ? el("span", { class: "badge warn" }, "sealed") : el("span", { class: "muted" }, "no")),
      el("td", { class: "num", dataset: { label: "Replicas" } }, formatCount(b.replicas)),
      el("td", { class: "cell-actions" },
        el("div", { class: "row-actions" },
          iconButton("trash", `Delete bucket ${b.bucket}`, { class: "icon-button danger", "data-action": "delete-bucket" }))));
  }

  /** Horizontal bars of stored bytes per bucket, drawn as inline SVG. */
  function renderChart() {
    const host = $("chart");
    const buckets = state.buckets.slice().sort((a, b) => (b.size || 0) - (a.size || 0));
    if (!buckets.length) {
      host.replaceChildren(el("p", { class: "chart-empty" }, "No buckets yet."));
      return;
    }
    const shown = buckets.slice(0, 12);
    const max = Math.max(1, ...shown.map((b) => b.size || 0));
    const rowHeight = 34;
    const summary = shown.map((b) => `${b.bucket} ${formatBytes(b.size || 0)}`).join(", ");
    const chart = svg("svg", {
      role: "img", "aria-label": `Stored bytes per bucket: ${summary}`,
      height: String(shown.length * rowHeight), width: "100%",
    });
    shown.forEach((b, i) => {
      const y = i * rowHeight;
      const pct = b.size ? Math.max(0.8, (100 * b.size) / max) : 0;
      const label = b.bucket.length > 26 ? `${b.bucket.slice(0, 25)}…` : b.bucket;
      chart.append(svg("g", {},
        svg("title", {}, `${b.bucket}: ${formatBytes(b.size || 0)} in ${formatCount(b.object_count)} objects`),
        svg("text", { x: "0", y: String(y + 12) }, label),
        svg("text", { x: "100%", y: String(y + 12), "text-anchor": "end", class: "value" }, formatBytes(b.size || 0)),
        svg("rect", { class: "track", x: "0", y: String(y + 18), width: "100%", height: "8", rx: "4" }),
        svg("rect", {
          class: b.bucket === state.bucket ? "bar selected" : "bar",
          x: "0", y: String(y + 18), width: `${pct}%`, height: "8", rx: "4",
        })));
    });
    const nodes = [chart];
    if (buckets.length > shown.length) {
      nodes.push(el("p", { class: "chart-empty" }, `and ${buckets.length - shown.length} more`));
    }
    host.replaceChildren(...nodes);
  }

  async function createBucket(event) {
    event.preventDefault();
    const nameInput = $("new-bucket");
    const name = nameInput.value.trim();
    if (!name) {
      say("Give the new bucket a name", "error");
      nameInput.focus();
      return;
    }
    const body = { bucket: name };
    const description = $("new-description").value.trim();
    if (description) body.description = description;
    const history = Number.parseInt($("new-history").value, 10);
    if (history > 1) body.history = history;
    const button = $("create-button");
    button.disabled = true;
    try {
      await api("POST", `${API}/buckets`, body);
      $("create-form").reset();
      say(`Created bucket “${name}”`, "ok");
      await loadBuckets();
      location.hash = `bucket=${encodeURIComponent(name)}`;
    } catch (err) {
      fail(err);
      nameInput.focus();
    } finally {
      button.disabled = false;
    }
  }

  async function deleteBucket(name) {
    if (!window.confirm(`Delete bucket “${name}” and every object in it? This cannot be undone.`)) return;
    try {
      await api("DELETE", bucketPath(name));
      say(`Deleted bucket “${name}”`, "ok");
      if (state.bucket === name) location.hash = "";
      await loadBuckets();
    } catch (err) {
      fail(err);
    }
  }

  /** Re-read one bucket's status (after uploads, deletes, live events). */
  async function refreshBucketStatus() {
    const name = state.bucket;
    if (!name) return;
    if (state.statusBusy) {
      state.statusDirty = true;
      return;
    }
    state.statusBusy = true;
    state.statusDirty = false;
    try {
      const status = await api("GET", bucketPath(name));
      const index = state.buckets.findIndex((b) => b.bucket === name);
      if (index >= 0) state.buckets[index] = status;
      else state.buckets.push(status);
      renderBuckets();
    } catch (err) {
      if (err.status === 404) await loadBuckets();
    } finally {
      state.statusBusy = false;
      if (state.statusDirty) bucketStatusSoon();
    }
  }

  const bucketStatusSoon = coalesce(refreshBucketStatus, 800);

  // ---- selection and live events --------------------------------------------

  function bucketFromHash() {
    const match = /^#bucket=(.*)$/.exec(location.hash);
    if (!match) return null;
    try {
      return decodeURIComponent(match[1]) || null;
    } catch {
      return null;
    }
  }

  function applyHash() {
    const name = bucketFromHash();
    if (name === state.bucket) return;
    state.bucket = name;
    state.offset = 0;
    state.filter = "";
    state.total = 0;
    state.objects = [];
    $("filter").value = "";
    if (state.listAbort) state.listAbort.abort();
    closeEvents();
    renderSelection();
    renderChart();
    if (!name) return;
    $("objects-body").replaceChildren(placeholderRow(7, "Loading objects…"));
    $("page-info").textContent = "";
    openEvents(name);
    loadObjects();
  }

  /** Bucket row highlight, section title and the sealed state of the upload zone. */
  function renderSelection() {
    const name = state.bucket;
    for (const row of $("buckets-body").querySelectorAll("tr[data-bucket]")) {
      const selected = row.dataset.bucket === name;
      row.toggleAttribute("aria-current", selected);
      if (selected) row.setAttribute("aria-current", "true");
      const button = row.querySelector('[data-action="select"]');
      if (button) {
        if (selected) button.setAttribute("aria-current", "true");
        else button.removeAttribute("aria-current");
      }
    }
    $("no-bucket").hidden = Boolean(name);
    $("bucket-view").hidden = !name;
    const title = $("objects-title");
    if (!name) {
      title.textContent = "Objects";
      $("objects-summary").textContent = "";
      return;
    }
    title.replaceChildren("Objects in ", el("span", { class: "title-bucket" }, name));
    const status = findBucket(name);
    const sealed = Boolean(status && status.sealed);
    $("file-input").disabled = sealed;
    $("dropzone").classList.toggle("disabled", sealed);
    $("sealed-note").hidden = !sealed;
    if (status) {
      const parts = [`${formatCount(status.object_count)} objects`, formatBytes(status.size)];
      if (status.history > 1) parts.push(`keeps ${status.history} revisions`);
      $("objects-summary").textContent = parts.join(" · ");
    }
  }

  function setLive(mode, text) {
    $("live").dataset.state = mode;
    $("live-text").textContent = text;
  }

  function closeEvents() {
    clearTimeout(state.eventsRetry);
    if (state.events) state.events.close();
    state.events = null;
    setLive("off", "Not watching");
  }

  function openEvents(bucket) {
    closeEvents();
    if (!("EventSource" in window)) {
      setLive("off", "Live updates unavailable");
      return;
    }
    const source = new EventSource(`${bucketPath(bucket)}/events`);
    state.events = source;
    setLive("connecting", "Connecting…");
    source.onopen = () => setLive("live", `Live: ${bucket}`);
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) {
        setLive("connecting", "Reconnecting…");
        return;
      }
      // EventSource reconnects by itself, except after an HTTP error: then try again later.
      setLive("off", "Live updates stopped; retrying");
      state.eventsRetry = setTimeout(() => {
        if (state.events === source && state.bucket === bucket) openEvents(bucket);
      }, 5000);
    };
    const onChange = (event) => {
      if (state.events !== source) return;
      objectsSoon();
      bucketStatusSoon();
      const info = parseJson(event.data);
      if (info && info.name) objectChanged(info.name);
    };
    source.addEventListener("put", onChange);
    source.addEventListener("delete", onChange);
  }

  // ---- objects ----------------------------------------------------------------

  function filterGlob() {
    const text = state.filter;
    if (!text) return "";
    return /[*?[]/.test(text) ? text : `*${text}*`;
  }

  async function loadObjects() {
    const bucket = state.bucket;
    if (!bucket) return;
    if (state.listAbort) state.listAbort.abort();
    const control = new AbortController();
    state.listAbort = control;
    state.listDirty = false;
    const query = new URLSearchParams({
      sort: state.sort, order: state.order, offset: String(state.offset), limit: String(state.limit),
    });
    const glob = filterGlob();
    if (glob) query.set("filter", glob);
    $("objects-table").setAttribute("aria-busy", "true");
    try {
      const data = await api("GET", `${bucketPath(bucket)}/objects?${query}`, undefined, control.signal);
      if (state.listAbort !== control) return;
      state.total = data.total || 0;
      state.objects = data.objects || [];
      if (state.offset > 0 && state.offset >= state.total) {
        // The page emptied under us (deletes): show the last page that has objects.
        state.offset = Math.max(0, Math.floor((state.total - 1) / state.limit) * state.limit);
        state.listAbort = null;
        loadObjects();
        return;
      }
      renderObjects();
    } catch (err) {
      if (state.listAbort === control) {
        fail(err);
        if (err.status === 404) $("objects-body").replaceChildren(placeholderRow(7, "This bucket cannot be read."));
      }
    } finally {
      if (state.listAbort === control) {
        state.listAbort = null;
        $("objects-table").setAttribute("aria-busy", "false");
        if (state.listDirty) objectsSoon();
      }
    }
  }

  /** Re-read the page on show after a change; a listing under way is left to finish, then redone. */
  function refreshObjects() {
    if (state.listAbort) {
      state.listDirty = true;
      return;
    }
    state.listDirty = false;
    loadObjects();
  }

  const objectsSoon = coalesce(refreshObjects, 300);

  function renderObjects() {
    const body = $("objects-body");
    keepingFocus(body, "data-name", () => {
      if (!state.objects.length) {
        const text = state.filter
          ? `No objects match “${state.filter}”.`
          : "This bucket is empty. Drop files above, or choose files, to upload.";
        body.replaceChildren(placeholderRow(7, text));
      } else {
        body.replaceChildren(...state.objects.map(objectRow));
      }
    });
    renderPager();
  }

  function objectRow(info) {
    const name = info.name;
    const slash = name.lastIndexOf("/");
    const shownSize = info.original_size ?? info.size;
    const sizeTitle = info.compression
      ? `${formatCount(shownSize)} bytes (${formatCount(info.size)} stored, ${info.compression})`
      : `${formatCount(info.size)} bytes`;
    const href = objectPath(state.bucket, name);
    return el("tr", { "data-name": name },
      el("td", { class: "cell-main col-name" },
        el("button", { type: "button", class: "object-name", "data-action": "info", title: name },
          slash >= 0 ? el("span", { class: "object-dir" }, name.slice(0, slash + 1)) : null,
          slash >= 0 ? name.slice(slash + 1) : name)),
      el("td", { class: "num col-size", dataset: { label: "Size" }, title: sizeTitle }, formatBytes(shownSize)),
      el("td", { class: "col-modified", dataset: { label: "Modified" } },
        el("time", { datetime: info.modified, title: info.modified, class: "nowrap" }, formatTime(info.modified))),
      el("td", { class: "num col-chunks", dataset: { label: "Chunks" } }, formatCount(info.chunks)),
      el("td", { class: "col-digest", dataset: { label: "Digest" } },
        el("span", { class: "digest", title: info.digest || "" }, shortDigest(info.digest))),
      el("td", { class: "num col-rev", dataset: { label: "Revision" } }, String(info.revision ?? "—")),
      el("td", { class: "cell-actions col-actions" },
        el("div", { class: "row-actions" },
          el("a", {
            class: "icon-button", href, download: baseName(name), "data-action": "download",
            "aria-label": `Download ${name}`, title: "Download",
          }, icon("download")),
          iconButton("link", `Copy download link of ${name}`, { "data-action": "copy", title: "Copy link" }),
          iconButton("info", `Info about ${name}`, { "data-action": "info-icon", title: "Info" }),
          iconButton("edit", `Edit ${name}`, { "data-action": "edit", title: "Edit description and headers" }),
          iconButton("versions", `Versions of ${name}`, { "data-action": "versions", title: "Versions" }),
          iconButton("trash", `Delete ${name}`, { class: "icon-button danger", "data-action": "delete", title: "Delete" }))));
  }

  function renderPager() {
    const { offset, limit, total } = state;
    let text;
    if (!total) text = state.filter ? "No matching objects" : "No objects";
    else text = `${formatCount(offset + 1)}–${formatCount(Math.min(offset + limit, total))} of ${formatCount(total)}`;
    $("page-info").textContent = text;
    $("page-prev").disabled = offset <= 0;
    $("page-next").disabled = offset + limit >= total;
    $("objects-caption").textContent = `Objects in ${state.bucket}, ${text}`;
  }

  function setSort(column) {
    if (state.sort === column) state.order = state.order === "asc" ? "desc" : "asc";
    else {
      state.sort = column;
      state.order = DEFAULT_ORDER[column] || "asc";
    }
    for (const th of $("objects-table").querySelectorAll("th[data-sort]")) {
      if (th.dataset.sort === state.sort) th.setAttribute("aria-sort", state.order === "asc" ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
    state.offset = 0;
    loadObjects();
  }

  async function deleteObject(name) {
    const bucket = state.bucket;
    if (!window.confirm(`Delete “${name}” from ${bucket}?`)) return false;
    try {
      await api("DELETE", objectPath(bucket, name));
      say(`Deleted “${name}”`, "ok");
      loadObjects();
      bucketStatusSoon();
      return true;
    } catch (err) {
      fail(err);
      return false;
    }
  }

  function absoluteUrl(bucket, name) {
    return new URL(objectPath(bucket, name), location.href).href;
  }

  async function copyLink(bucket, name) {
    const url = absoluteUrl(bucket, name);
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(url);
        say(`Copied the link to “${name}”`, "ok");
        return;
      } catch {
        // Denied (no user gesture, permissions): fall through to the old way.
      }
    }
    if (legacyCopy(url)) say(`Copied the link to “${name}”`, "ok");
    else window.prompt("Copy this link:", url);
  }

  function legacyCopy(text) {
    const previous = document.activeElement;
    const area = el("textarea", { readonly: true, "aria-hidden": "true", style: "position:fixed;top:0;left:0;opacity:0" });
    area.value = text;
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    area.remove();
    if (previous && previous.focus) previous.focus();
    return copied;
  }

  function onObjectAction(event) {
    const target = event.target.closest("[data-action]");
    if (!target) return;
    const row = target.closest("tr[data-name]");
    if (!row) return;
    const name = row.dataset.name;
    switch (target.dataset.action) {
      case "info":
      case "info-icon":
        openObject(name, "info", target);
        break;
      case "edit":
        openObject(name, "edit", target);
        break;
      case "versions":
        openObject(name, "versions", target);
        break;
      case "copy":
        copyLink(state.bucket, name);
        break;
      case "delete":
        deleteObject(name);
        break;
      default:
        break;
    }
  }

  // ---- uploads ----------------------------------------------------------------

  const uploads = { queue: [], running: 0, batch: 0, batchDone: 0, batchFailed: 0 };

  function uploadPrefix() {
    let prefix = $("upload-prefix").value.trim().replace(/^\/+/, "");
    if (prefix && !prefix.endsWith("/")) prefix += "/";
    return prefix;
  }

  function addFiles(files) {
    const bucket = state.bucket;
    if (!bucket) {
      say("Choose a bucket before uploading", "error");
      return;
    }
    const list = [...files];
    if (!list.length) return;
    const prefix = uploadPrefix();
    $("uploads-panel").hidden = false;
    if (!uploads.running && !uploads.queue.length) {
      uploads.batch = 0;
      uploads.batchDone = 0;
      uploads.batchFailed = 0;
    }
    for (const file of list) {
      const item = { file, bucket, name: prefix + file.name, xhr: null, state: "queued" };
      item.row = uploadRow(item);
      $("upload-list").append(item.row);
      uploads.queue.push(item);
      uploads.batch += 1;
    }
    say(`Uploading ${list.length === 1 ? `“${prefix + list[0].name}”` : `${list.length} files`} to ${bucket}…`);
    pumpUploads();
  }

  function uploadRow(item) {
    item.progress = el("progress", { max: "100", value: "0", "aria-label": `Upload of ${item.name}` });
    item.stateText = el("span", { class: "upload-state" }, "Waiting");
    item.button = iconButton("close", `Cancel upload of ${item.name}`, {
      onclick: () => cancelUpload(item),
    });
    return el("li", { class: "upload", "data-state": "queued", "data-name": item.name },
      el("span", { class: "upload-name", title: item.name }, item.name),
      item.progress, item.stateText, item.button);
  }

  function setUploadState(item, mode, text) {
    item.state = mode;
    item.row.dataset.state = mode;
    item.stateText.textContent = text;
    if (mode === "done" || mode === "failed") {
      const label = `Remove ${item.name} from the list`;
      item.button.setAttribute("aria-label", label);
      item.button.title = label;
    }
  }

  function pumpUploads() {
    while (uploads.running < PARALLEL_UPLOADS && uploads.queue.length) startUpload(uploads.queue.shift());
  }

  function startUpload(item) {
    uploads.running += 1;
    setUploadState(item, "uploading", "0%");
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    xhr.open("PUT", objectPath(item.bucket, item.name));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (event) => {
      if (!event.lengthComputable || !event.total) return;
      const pct = Math.floor((100 * event.loaded) / event.total);
      item.progress.value = pct;
      setUploadState(item, "uploading", `${pct}% · ${formatBytes(event.loaded)} of ${formatBytes(event.total)}`);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        const info = parseJson(xhr.responseText) || {};
        item.progress.value = 100;
        const rev = info.revision ? ` · rev ${info.revision}` : "";
        setUploadState(item, "done", `Done · ${formatBytes(item.file.size)}${rev}`);
        uploads.batchDone += 1;
      } else {
        uploadFailed(item, errorFrom(xhr.status, xhr.statusText, parseJson(xhr.responseText)).message);
      }
    };
    xhr.onerror = () => uploadFailed(item, "the gateway cannot be reached");
    xhr.onabort = () => uploadFailed(item, "cancelled");
    xhr.onloadend = () => {
      uploads.running -= 1;
      item.xhr = null;
      if (item.bucket === state.bucket) {
        objectsSoon();
        bucketStatusSoon();
      }
      pumpUploads();
      if (!uploads.running && !uploads.queue.length) uploadsFinished();
    };
    // The File is streamed by the browser: no size limit here, only the bucket's.
    xhr.send(item.file);
  }

  function uploadFailed(item, message) {
    setUploadState(item, "failed", `Failed: ${message}`);
    uploads.batchFailed += 1;
    if (message !== "cancelled") say(`Upload of “${item.name}” failed: ${message}`, "error");
  }

  function uploadsFinished() {
    const { batch, batchDone, batchFailed } = uploads;
    if (batchFailed) return; // the failure is on show already
    say(batch === 1 ? "Upload finished" : `${formatCount(batchDone)} uploads finished`, "ok");
  }

  function cancelUpload(item) {
    if (item.state === "uploading" && item.xhr) {
      item.xhr.abort();
      return;
    }
    if (item.state === "queued") {
      uploads.queue = uploads.queue.filter((q) => q !== item);
      uploadFailed(item, "cancelled");
      return;
    }
    item.row.remove();
    if (!$("upload-list").children.length) $("uploads-panel").hidden = true;
  }

  function clearFinishedUploads() {
    for (const row of [...$("upload-list").children]) {
      if (row.dataset.state === "done" || row.dataset.state === "failed") row.remove();
    }
    if (!$("upload-list").children.length) $("uploads-panel").hidden = true;
  }

  function setUpDropzone() {
    const zone = $("dropzone");
    let depth = 0;
    zone.addEventListener("dragenter", (event) => {
      event.preventDefault();
      depth += 1;
      zone.classList.add("dragover");
    });
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      event.dataTransfer.dropEffect = $("file-input").disabled ? "none" : "copy";
    });
    zone.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.classList.remove("dragover");
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      depth = 0;
      zone.classList.remove("dragover");
      if ($("file-input").disabled) return;
      addFiles(event.dataTransfer.files);
    });
    // A file dropped beside the zone must not make the browser leave the page.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
    $("file-input").addEventListener("change", (event) => {
      addFiles(event.target.files);
      event.target.value = "";
    });
  }

  // ---- object dialog: info, edit, versions ----------------------------------

  // editDirty: the edit form holds changes not saved yet (a refresh must not overwrite them).
  const dialog = { bucket: null, name: null, info: null, tab: "info", opener: null, editDirty: false };

  async function openObject(name, tab, opener) {
    dialog.bucket = state.bucket;
    dialog.name = name;
    dialog.info = null;
    dialog.opener = opener ? { name, action: opener.dataset.action } : null;
    $("dialog-bucket").textContent = `Bucket ${state.bucket}`;
    $("dialog-title").textContent = name;
    $("panel-info").replaceChildren(el("p", { class: "muted" }, "Loading…"));
    $("panel-versions").replaceChildren(el("p", { class: "muted" }, "Loading…"));
    historySection.replaceChildren();
    historySection.hidden = true;
    $("edit-form").reset();
    $("edit-fields").disabled = true; // until the current values are in
    dialog.editDirty = false;
    selectTab(tab, false);
    const box = $("object-dialog");
    // Outside a modal dialog everything is inert: messages must be shown from inside it.
    box.append($("status-wrap"));
    if (!box.open) box.showModal();
    await loadInfo();
    if (tab === "edit" && dialog.name === name) $("edit-description").focus();
    if (tab === "versions") await loadVersions();
  }

  function selectTab(tab, focus) {
    dialog.tab = tab;
    for (const button of document.querySelectorAll('#object-dialog [role="tab"]')) {
      const selected = button.dataset.tab === tab;
      button.setAttribute("aria-selected", String(selected));
      button.tabIndex = selected ? 0 : -1;
      $(button.getAttribute("aria-controls")).hidden = !selected;
      if (selected && focus) button.focus();
    }
  }

  function onTabKey(event) {
    const tabs = [...document.querySelectorAll('#object-dialog [role="tab"]')];
    const index = tabs.indexOf(document.activeElement);
    if (index < 0) return;
    const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = tabs[(moves[event.key] + tabs.length) % tabs.length];
    showTab(next.dataset.tab, true);
  }

  function showTab(tab, focus) {
    selectTab(tab, focus);
    if (tab === "versions") loadVersions();
  }

  async function loadInfo() {
    const { bucket, name } = dialog;
    try {
      const data = await api("POST", `${bucketPath(bucket)}/get`, { name, info_only: true });
      if (dialog.bucket !== bucket || dialog.name !== name) return;
      dialog.info = data.info;
      renderInfo(data.info);
      fillEditForm(data.info);
      loadHistory();
    } catch (err) {
      if (dialog.name !== name) return;
      $("panel-info").replaceChildren(el("p", { class: "muted" }, err.message));
      fail(err);
    }
  }

  const INFO_FIELDS = [
    ["name", "Name"], ["bucket", "Bucket"], ["description", "Description"], ["size", "Size"],
    ["original_size", "Original size"], ["compression", "Compression"], ["chunks", "Chunks"],
    ["digest", "Digest"], ["revision", "Revision"], ["created", "Created"], ["modified", "Modified"],
    ["ttl", "TTL"], ["deleted", "Deleted"], ["nuid", "NUID"], ["mtime", "mtime"],
  ];

  function infoValue(key, value) {
    if (key === "size" || key === "original_size") return `${formatBytes(value)} (${formatCount(value)} bytes)`;
    if (key === "created" || key === "modified") return `${formatTime(value)} · ${value}`;
    if (key === "ttl") return formatDuration(value);
    if (key === "deleted") return value ? "yes" : "no";
    if (key === "digest") return el("code", {}, value);
    if (value !== null && typeof value === "object") return el("code", {}, JSON.stringify(value));
    return value === "" ? "—" : String(value);
  }

  function renderInfo(info) {
    const props = el("dl", { class: "props" });
    const known = new Set(["headers", "metadata", "options"]);
    const add = (label, value) => props.append(el("dt", {}, label), el("dd", {}, value));
    for (const [key, label] of INFO_FIELDS) {
      known.add(key);
      if (info[key] === undefined) continue;
      add(label, infoValue(key, info[key]));
    }
    const options = info.options || {};
    if (options.max_chunk_size) add("Max chunk size", formatBytes(options.max_chunk_size));
    if (options.link) add("Link to", `${options.link.bucket}${options.link.name ? ` / ${options.link.name}` : ""}`);
    for (const [key, value] of Object.entries(info)) {
      if (!known.has(key)) add(key, infoValue(key, value));
    }
    const deleted = Boolean(info.deleted);
    const actions = el("div", { class: "info-actions" },
      deleted ? null : el("a", {
        class: "button secondary small", href: objectPath(dialog.bucket, info.name), download: baseName(info.name),
      }, icon("download"), "Download"),
      el("button", { type: "button", class: "button secondary small", onclick: () => copyLink(dialog.bucket, info.name) },
        icon("link"), "Copy link"),
      deleted ? null : el("button", {
        type: "button", class: "button danger small",
        onclick: async () => {
          if (await deleteObject(info.name)) $("object-dialog").close();
        },
      }, icon("trash"), "Delete"));
    for (const svgNode of actions.querySelectorAll("svg")) svgNode.setAttribute("class", "button-icon");
    $("panel-info").replaceChildren(
      actions, props,
      el("h3", { class: "props-title" }, "Headers"), kvTable(headerPairs(info.headers), "No headers"),
      el("h3", { class: "props-title" }, "Metadata"), kvTable(Object.entries(info.metadata || {}), "No metadata"),
      historySection);
  }

  // ---- object history, from the server's audit trail (kept across info re-renders) ----

  const HISTORY_LIMIT = 20;
  const secondsFormat = new Intl.DateTimeFormat(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const historySection = el("section", { id: "object-history", "aria-labelledby": "history-title", hidden: true });

  async function loadHistory() {
    const { bucket, name } = dialog;
    if (state.historyOff) return;
    try {
      const data = await api("GET", `${bucketPath(bucket)}/history/${encodeName(name)}?limit=${HISTORY_LIMIT}`);
      if (dialog.bucket !== bucket || dialog.name !== name) return;
      renderHistory(data.records || [], Boolean(data.more));
    } catch (err) {
      if (err.name === "AbortError" || dialog.name !== name) return;
      if (err.status === 501) {
        state.historyOff = true;
        historySection.hidden = true;
        return;
      }
      historySection.replaceChildren(historyTitle(), el("p", { class: "muted" }, err.message));
      historySection.hidden = false;
    }
  }

  function historyTitle() {
    return el("h3", { class: "props-title", id: "history-title" }, "History");
  }

  /** The result as a badge, and for a refusal or failure its err_code and description beside it. */
  function historyResult(r) {
    const detail = [r.err_code, r.error].filter((part) => part !== null && part !== undefined && part !== "").join(" ");
    return el("span", { class: "history-result" },
      el("span", { class: r.result === "ok" ? "badge on" : "badge warn" }, r.result),
      detail ? el("span", { class: "history-detail" }, ` ${detail}`) : null);
  }

  function renderHistory(records, more) {
    historySection.hidden = false;
    if (!records.length) {
      historySection.replaceChildren(historyTitle(), el("p", { class: "muted" }, "No recorded operations."));
      return;
    }
    const rows = records.map((r) => el("tr", { "data-op": r.op },
      el("td", { dataset: { label: "Time" }, title: r.time },
        parseTime(r.time) ? secondsFormat.format(parseTime(r.time)) : r.time),
      el("td", { dataset: { label: "Who" } }, `${r.user || "—"}${r.account ? ` (${r.account})` : ""}`),
      el("td", { dataset: { label: "Operation" } }, r.op.replace("_", " ")),
      el("td", { class: "num", dataset: { label: "Size" } }, r.bytes === null ? "—" : formatBytes(r.bytes)),
      el("td", { class: "num", dataset: { label: "Revision" } }, r.revision === null ? "—" : String(r.revision)),
      el("td", { dataset: { label: "Result" } }, historyResult(r))));
    const table = el("table", { class: "table history-table" },
      el("caption", { class: "visually-hidden" }, `Recent operations on ${dialog.name}, newest first`),
      el("thead", {}, el("tr", {},
        el("th", { scope: "col" }, "Time"), el("th", { scope: "col" }, "Who"), el("th", { scope: "col" }, "Operation"),
        el("th", { scope: "col", class: "num" }, "Size"), el("th", { scope: "col", class: "num" }, "Revision"),
        el("th", { scope: "col" }, "Result"))),
      el("tbody", {}, ...rows));
    historySection.replaceChildren(historyTitle(), el("div", { class: "table-wrap" }, table),
      more ? el("p", { class: "hint" }, `The ${records.length} newest; older ones are in the audit trail.`) : "");
  }

  function headerPairs(headers) {
    const pairs = [];
    for (const [key, values] of Object.entries(headers || {})) {
      for (const value of Array.isArray(values) ? values : [values]) pairs.push([key, value]);
    }
    return pairs;
  }

  function kvTable(pairs, emptyText) {
    if (!pairs.length) return el("p", { class: "muted" }, emptyText);
    return el("table", { class: "kv-table" },
      el("tbody", {}, ...pairs.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, String(v))))));
  }

  function fillEditForm(info, force = false) {
    if (dialog.editDirty && !force) return;
    dialog.editDirty = false;
    $("edit-fields").disabled = false;
    $("edit-description").value = info.description || "";
    $("edit-headers").value = headerPairs(info.headers)
      .filter(([key]) => !key.toLowerCase().startsWith("orlop-"))
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n");
    $("edit-metadata").value = Object.entries(info.metadata || {}).map(([k, v]) => `${k}=${v}`).join("\n");
  }

  /** "Key<sep>value" lines to pairs; throws an Error naming the first bad line. */
  function parseLines(text, sep, what) {
    const pairs = [];
    text.split("\n").forEach((line, i) => {
      if (!line.trim()) return;
      const at = line.indexOf(sep);
      const key = at > 0 ? line.slice(0, at).trim() : "";
      if (!key) throw new Error(`${what}, line ${i + 1}: expected “name${sep} value”`);
      pairs.push([key, line.slice(at + 1).trim()]);
    });
    return pairs;
  }

  async function saveEdit(event) {
    event.preventDefault();
    const { bucket, name } = dialog;
    let headers;
    let metadata;
    try {
      headers = {};
      for (const [k, v] of parseLines($("edit-headers").value, ":", "Headers")) (headers[k] ||= []).push(v);
      metadata = Object.fromEntries(parseLines($("edit-metadata").value, "=", "Metadata"));
    } catch (err) {
      say(err.message, "error");
      return;
    }
    const button = $("edit-save");
    button.disabled = true;
    try {
      const info = await api("POST", `${bucketPath(bucket)}/update`, {
        name, description: $("edit-description").value, headers, metadata,
      });
      say(`Saved “${name}”`, "ok");
      if (dialog.name === name) {
        dialog.info = info;
        renderInfo(info);
        fillEditForm(info, true);
      }
      if (state.bucket === bucket) objectsSoon();
    } catch (err) {
      fail(err);
    } finally {
      button.disabled = false;
    }
  }

  async function loadVersions() {
    const { bucket, name } = dialog;
    const panel = $("panel-versions");
    try {
      const data = await api("GET", `${bucketPath(bucket)}/versions/${encodeName(name)}`);
      if (dialog.bucket !== bucket || dialog.name !== name) return;
      renderVersions(data.versions || []);
    } catch (err) {
      if (dialog.name !== name) return;
      panel.replaceChildren(el("p", { class: "muted" }, err.message));
      fail(err);
    }
  }

  function renderVersions(versions) {
    const panel = $("panel-versions");
    const status = findBucket(dialog.bucket);
    const note = status && status.history <= 1
      ? el("p", { class: "hint" }, "This bucket keeps one revision per object. A bucket created with a larger history keeps older versions to restore.")
      : null;
    if (!versions.length) {
      panel.replaceChildren(el("p", { class: "muted" }, "No versions."), note || "");
      return;
    }
    const rows = versions.map((v, i) => {
      const current = i === 0 && !v.deleted;
      const state = v.deleted ? "deleted" : current ? "current" : "";
      const actions = el("div", { class: "row-actions" });
      if (!v.deleted) {
        actions.append(el("a", {
          class: "icon-button", href: `${objectPath(dialog.bucket, v.name)}?revision=${v.revision}`,
          download: baseName(v.name), "aria-label": `Download revision ${v.revision}`, title: "Download this revision",
        }, icon("download")));
      }
      if (!current && !v.deleted) {
        actions.append(el("button", {
          type: "button", class: "button secondary small", "data-action": "restore",
          "data-revision": String(v.revision), "aria-label": `Restore revision ${v.revision}`,
          onclick: () => restoreVersion(v.revision),
        }, "Restore"));
      }
      return el("tr", { class: current ? "current" : null, "data-revision": String(v.revision) },
        el("td", { class: "num cell-main", dataset: { label: "Revision" } }, String(v.revision)),
        el("td", { dataset: { label: "Modified" } }, formatTime(v.modified)),
        el("td", { class: "num", dataset: { label: "Size" } }, v.deleted ? "—" : formatBytes(v.original_size ?? v.size)),
        el("td", { dataset: { label: "Digest" } }, el("span", { class: "digest", title: v.digest || "" }, shortDigest(v.digest))),
        el("td", { dataset: { label: "State" } }, state ? el("span", { class: v.deleted ? "badge warn" : "badge on" }, state) : ""),
        el("td", { class: "cell-actions" }, actions));
    });
    const table = el("table", { class: "table versions-table" },
      el("caption", { class: "visually-hidden" }, `Versions of ${dialog.name}, newest first`),
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", class: "num" }, "Revision"), el("th", { scope: "col" }, "Modified"),
        el("th", { scope: "col", class: "num" }, "Size"), el("th", { scope: "col" }, "Digest"),
        el("th", { scope: "col" }, "State"), el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Actions")))),
      el("tbody", {}, ...rows));
    panel.replaceChildren(el("div", { class: "table-wrap" }, table), note || "");
  }

  async function restoreVersion(revision) {
    const { bucket, name } = dialog;
    try {
      const info = await api("POST", `${bucketPath(bucket)}/restore`, { name, revision });
      say(`Restored revision ${revision} of “${name}”${info && info.revision ? ` as revision ${info.revision}` : ""}`, "ok");
      if (dialog.name === name) {
        await loadVersions();
        loadInfo();
        const first = $("panel-versions").querySelector("button, a");
        if (first) first.focus();
      }
      if (state.bucket === bucket) objectsSoon();
    } catch (err) {
      fail(err);
    }
  }

  /** A live event about ``name``: refresh the dialog if it shows that object (not while editing). */
  function objectChanged(name) {
    if (!$("object-dialog").open || dialog.name !== name || dialog.bucket !== state.bucket) return;
    if (dialog.tab === "info") loadInfo();
    else if (dialog.tab === "versions") loadVersions();
  }

  function onDialogClose() {
    document.body.insertBefore($("status-wrap"), document.querySelector("main"));
    const opener = dialog.opener;
    dialog.name = null;
    if (!opener) return;
    // The row may have been rebuilt while the dialog was open: find it again.
    const row = [...$("objects-body").querySelectorAll("tr[data-name]")].find((r) => r.dataset.name === opener.name);
    const target = row && row.querySelector(`[data-action="${opener.action}"]`);
    if (target) target.focus();
  }

  // ---- wiring -----------------------------------------------------------------

  function init() {
    $("status-close").addEventListener("click", clearStatus);
    $("buckets-refresh").addEventListener("click", () => {
      loadBuckets();
      if (state.bucket) loadObjects();
    });
    $("create-form").addEventListener("submit", createBucket);
    $("buckets-body").addEventListener("click", (event) => {
      const target = event.target.closest("[data-action]");
      const row = event.target.closest("tr[data-bucket]");
      if (!target || !row) return;
      if (target.dataset.action === "select") {
        location.hash = `bucket=${encodeURIComponent(row.dataset.bucket)}`;
        $("objects-section").focus({ preventScroll: true });
        $("objects-section").scrollIntoView({ block: "start", behavior: "smooth" });
      } else if (target.dataset.action === "delete-bucket") {
        deleteBucket(row.dataset.bucket);
      }
    });
    $("objects-body").addEventListener("click", onObjectAction);
    for (const button of document.querySelectorAll("th .sort")) {
      button.addEventListener("click", () => setSort(button.dataset.sort));
    }
    const filterSoon = debounce(() => {
      state.filter = $("filter").value.trim();
      state.offset = 0;
      loadObjects();
    }, 250);
    $("filter").addEventListener("input", filterSoon);
    $("page-size").addEventListener("change", (event) => {
      state.limit = Number.parseInt(event.target.value, 10) || 50;
      state.offset = 0;
      loadObjects();
    });
    $("page-prev").addEventListener("click", () => {
      state.offset = Math.max(0, state.offset - state.limit);
      loadObjects();
    });
    $("page-next").addEventListener("click", () => {
      if (state.offset + state.limit < state.total) state.offset += state.limit;
      loadObjects();
    });
    $("objects-refresh").addEventListener("click", () => {
      loadObjects();
      refreshBucketStatus();
    });
    $("uploads-clear").addEventListener("click", clearFinishedUploads);
    setUpDropzone();

    $("dialog-close").addEventListener("click", () => $("object-dialog").close());
    $("object-dialog").addEventListener("close", onDialogClose);
    for (const tab of document.querySelectorAll('#object-dialog [role="tab"]')) {
      tab.addEventListener("click", () => showTab(tab.dataset.tab, false));
    }
    document.querySelector('#object-dialog [role="tablist"]').addEventListener("keydown", onTabKey);
    $("edit-form").addEventListener("submit", saveEdit);
    $("edit-form").addEventListener("input", () => {
      dialog.editDirty = true;
    });

    window.addEventListener("hashchange", applyHash);
    state.limit = Number.parseInt($("page-size").value, 10) || 50;
    loadBuckets().then(applyHash);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
