// Alignment explorer: a page over the public API (POST /v1/translate, POST /v1/align,
// GET /v1/translations/{id}). No framework, no build step.
"use strict";

const EOS = "</s>";
const BOUNDARY = "\u2581";
const KEY_STORAGE = "bahdanau-serve.api-key";
const $ = (id) => document.getElementById(id);

const view = {
  doc: null, // {id, source, text, score, alternatives, stored, alignment, candidates, token_scores}
  level: "word",
  matrix: "attention",
  links: false,
  step: 0,
  features: { candidates: false, align: false },
};

// ---- API ---------------------------------------------------------------------------------

function authHeaders() {
  const key = $("api-key").value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function api(method, path, body) {
  const init = { method, headers: { ...authHeaders() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new Error(`the service did not answer (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: reported below */
  }
  if (!response.ok) {
    const message = data && data.error && (data.error.message || data.error);
    throw new Error(message || `HTTP ${response.status}: ${text.slice(0, 200)}`);
  }
  return data;
}

async function detectFeatures() {
  try {
    const schema = await api("GET", "/openapi.json");
    const request = schema.components.schemas.TranslateRequest || { properties: {} };
    view.features.candidates = "return_candidates" in request.properties;
    view.features.align = "/v1/align" in schema.paths;
  } catch {
    /* keep the defaults: the basic translate form still works */
  }
  const field = $("candidates-field");
  field.querySelector("input").disabled = !view.features.candidates;
  field.title = view.features.candidates ? "" : "this server does not return candidates";
  const alignMode = document.querySelector('input[name="mode"][value="align"]');
  alignMode.disabled = !view.features.align;
  alignMode.parentElement.title = view.features.align ? "" : "this server has no /v1/align";
}

// ---- words and pieces --------------------------------------------------------------------

/** [start, end) piece ranges of each word: the rule of service/inference/alignment.py. */
function wordSpans(pieces) {
  const spans = [];
  pieces.forEach((piece, i) => {
    const continues =
      spans.length && piece !== EOS && !piece.startsWith(BOUNDARY) && pieces[i - 1] !== EOS;
    if (continues) spans[spans.length - 1][1] = i + 1;
    else spans.push([i, i + 1]);
  });
  return spans;
}

function pieceToWord(spans) {
  const owner = [];
  spans.forEach(([start, end], w) => {
    for (let i = start; i < end; i++) owner[i] = w;
  });
  return owner;
}

/** Labels, matrices and links at the chosen level. */
function levelData(alignment, level) {
  const head = alignment.alignment_head || null;
  const links = (alignment.pharaoh || "")
    .split(/\s+/)
    .filter(Boolean)
    .map((pair) => pair.split("-").map(Number)); // [source word, target word]
  if (level === "word") {
    return {
      source: alignment.words.source,
      target: alignment.words.target,
      attention: alignment.words.attention,
      head: head ? head.words : null,
      links: links.map(([s, t]) => [[s, t]]),
    };
  }
  const sourceSpans = wordSpans(alignment.source_tokens);
  const targetSpans = wordSpans(alignment.target_tokens);
  return {
    source: alignment.source_tokens,
    target: alignment.target_tokens,
    attention: alignment.attention,
    head: head ? head.attention : null,
    // A word link marks every piece pair of the two words.
    links: links.map(([s, t]) => {
      const cells = [];
      const [s0, s1] = sourceSpans[s] || [s, s + 1];
      const [t0, t1] = targetSpans[t] || [t, t + 1];
      for (let j = t0; j < t1; j++) for (let i = s0; i < s1; i++) cells.push([i, j]);
      return cells;
    }),
  };
}

const grey = (w) => {
  const v = Math.round(255 * Math.max(0, Math.min(1, w)));
  return `rgb(${v},${v},${v})`;
};
const fmt = (x, digits = 2) => Number(x).toFixed(digits);
const show = (token) => (token === EOS ? EOS : token.replaceAll(BOUNDARY, "▁"));

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name === "style") node.style.cssText = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

// ---- rendering ---------------------------------------------------------------------------

function renderSummary(doc) {
  $("translation-text").textContent = doc.text;
  const scores = [];
  if (doc.score !== undefined && doc.score !== null) scores.push(`score ${fmt(doc.score, 3)}`);
  if (doc.model) scores.push(`${doc.model.name} ${doc.model.version}`);
  if (doc.options) scores.push(`beam ${doc.options.beam_size}`);
  $("score").textContent = scores.join(" · ");
  const list = $("alternatives");
  list.replaceChildren(
    ...(doc.alternatives || []).map((alt) =>
      el("li", {}, el("span", { text: alt.text }), " ", el("span", { class: "muted", text: fmt(alt.score, 3) })),
    ),
  );
  list.hidden = !(doc.alternatives || []).length;
  const stored = doc.stored !== false;
  $("links").hidden = !stored;
  if (stored) {
    const base = `/v1/translations/${doc.id}`;
    $("permalink").href = `/t/${doc.id}`;
    $("dl-json").href = base;
    $("dl-svg").href = `${base}/alignment.svg?level=${view.level}`;
    $("dl-png").href = `${base}/alignment.png?level=${view.level}`;
    $("dl-json").download = `${doc.id}.json`;
    $("dl-svg").download = `${doc.id}-${view.level}.svg`;
    $("dl-png").download = `${doc.id}-${view.level}.png`;
  }
}

function renderWords(data) {
  const chips = (tokens, side) =>
    tokens.map((token, index) =>
      el("span", { class: "word", tabindex: "0", [`data-${side}`]: String(index), text: show(token) }),
    );
  $("source-words").replaceChildren(...chips(data.source, "s"));
  $("target-words").replaceChildren(...chips(data.target, "t"));
}

function heatmap(title, matrix, data, kind) {
  const grid = el("div", {
    class: "heatmap",
    role: "grid",
    "aria-label": title,
    "data-kind": kind,
    style: `grid-template-columns: max-content repeat(${data.source.length}, var(--cell));`,
  });
  grid.append(el("div", { class: "corner" }));
  data.source.forEach((token, i) =>
    grid.append(el("div", { class: "col-label", "data-s": String(i), tabindex: "-1", text: show(token) })),
  );
  const linked = new Set(data.links.flat().map(([i, j]) => `${j}:${i}`));
  matrix.forEach((row, j) => {
    grid.append(el("div", { class: "row-label", "data-t": String(j), tabindex: "0", text: show(data.target[j]) }));
    row.forEach((w, i) => {
      const cell = el("div", {
        class: "cell",
        "data-s": String(i),
        "data-t": String(j),
        "data-w": fmt(w, 4),
        title: `${show(data.source[i])} → ${show(data.target[j])}: ${fmt(w, 3)}`,
        style: `background:${grey(w)}`,
      });
      if (view.links && linked.has(`${j}:${i}`)) cell.classList.add("link");
      grid.append(cell);
    });
  });
  return el("figure", { class: "matrix" }, el("figcaption", { text: title }), grid);
}

function renderMatrices(data) {
  const figures = [];
  const hasHead = Boolean(data.head);
  const choice = hasHead ? view.matrix : "attention";
  if (choice !== "head") figures.push(heatmap("Model attention α", data.attention, data, "attention"));
  if (hasHead && choice !== "attention") figures.push(heatmap("Alignment head", data.head, data, "head"));
  $("matrices").replaceChildren(...figures);
  $("matrix-choice").hidden = !hasHead;
}

function render() {
  const doc = view.doc;
  if (!doc) return;
  const data = levelData(doc.alignment, view.level);
  view.data = data;
  renderSummary(doc);
  renderWords(data);
  renderMatrices(data);
  renderStep();
  $("result").hidden = false;
}

// ---- hover and focus ---------------------------------------------------------------------

function clearHighlight() {
  document.querySelectorAll(".hl, .lit").forEach((node) => {
    node.classList.remove("hl", "lit");
    node.style.removeProperty("--w");
  });
}

/** Light the words on the other side of `side`'s word `index` by their weights. */
function highlight(side, index) {
  clearHighlight();
  const data = view.data;
  if (!data) return;
  const matrix = view.matrix === "head" && data.head ? data.head : data.attention;
  const other = side === "t" ? "s" : "t";
  const weights = side === "t" ? matrix[index] : matrix.map((row) => row[index]);
  document.querySelectorAll(`[data-${side}="${index}"]:not(.cell)`).forEach((node) => node.classList.add("lit"));
  document.querySelectorAll(`.cell[data-${side}="${index}"]`).forEach((node) => node.classList.add("lit"));
  weights.forEach((w, k) => {
    if (w < 0.05) return;
    document.querySelectorAll(`[data-${other}="${k}"]:not(.cell)`).forEach((node) => {
      node.classList.add("hl");
      node.style.setProperty("--w", fmt(w, 3));
    });
  });
}

function onPoint(event) {
  const node = event.target.closest("[data-t], [data-s]");
  if (!node || !$("result").contains(node) || node.closest("#steps")) return;
  if (node.classList.contains("cell")) highlight("t", Number(node.dataset.t));
  else if (node.dataset.t !== undefined) highlight("t", Number(node.dataset.t));
  else highlight("s", Number(node.dataset.s));
}

// ---- step by step ------------------------------------------------------------------------

function renderStep() {
  const doc = view.doc;
  const alignment = doc.alignment;
  const pieces = alignment.target_tokens;
  const slider = $("step");
  slider.max = String(pieces.length - 1);
  view.step = Math.min(view.step, pieces.length - 1);
  slider.value = String(view.step);
  const i = view.step;
  const row = alignment.attention[i];
  let labels = alignment.source_tokens;
  let weights = row;
  let litRow = i;
  if (view.level === "word") {
    const spans = wordSpans(alignment.source_tokens);
    labels = alignment.words.source;
    weights = spans.map(([a, b]) => row.slice(a, b).reduce((x, y) => x + y, 0));
    litRow = pieceToWord(wordSpans(pieces))[i];
  }
  $("step-label").textContent = `step ${i + 1} of ${pieces.length}: emitted “${show(pieces[i])}”`;
  $("step-bars").replaceChildren(
    ...labels.map((label, k) =>
      el(
        "li",
        { class: "bar" },
        el("span", { class: "bar-label", text: show(label) }),
        el("span", { class: "bar-track" }, el("span", { class: "bar-fill", style: `width:${(100 * weights[k]).toFixed(1)}%` })),
        el("span", { class: "bar-value", text: fmt(weights[k]) }),
      ),
    ),
  );
  document.querySelectorAll(".row-label.step, .cell.step").forEach((node) => node.classList.remove("step"));
  document.querySelectorAll(`.heatmap [data-t="${litRow}"]`).forEach((node) => node.classList.add("step"));

  const candidates = doc.candidates && doc.candidates[i];
  const note = $("candidates-note");
  if (candidates && candidates.length) {
    $("step-candidates").replaceChildren(
      ...candidates.map((c) => {
        const p = Math.exp(c.logprob);
        return el(
          "li",
          { class: c.token === pieces[i] ? "bar chosen" : "bar" },
          el("span", { class: "bar-label", text: show(c.token) }),
          el("span", { class: "bar-track" }, el("span", { class: "bar-fill", style: `width:${(100 * p).toFixed(1)}%` })),
          el("span", { class: "bar-value", text: fmt(p) }),
        );
      }),
    );
    note.textContent = "Probabilities of the best pieces at this step; the emitted one is marked.";
  } else {
    $("step-candidates").replaceChildren();
    if (doc.token_scores) {
      note.textContent = `p(“${show(pieces[i])}”) = ${fmt(Math.exp(doc.token_scores[i]), 3)} under the model.`;
    } else if (view.features.candidates) {
      note.textContent = "Translate with “Candidates per step” above 0 to see the pieces the model weighed.";
    } else {
      note.textContent = "This server does not return the candidates of each step.";
    }
  }
}

function moveStep(delta) {
  const pieces = view.doc.alignment.target_tokens;
  view.step = Math.max(0, Math.min(pieces.length - 1, view.step + delta));
  renderStep();
}

// ---- actions -----------------------------------------------------------------------------

function number(id) {
  return Number.parseInt($(id).value, 10);
}

function setBusy(busy) {
  $("submit").disabled = busy;
  $("busy").hidden = !busy;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

async function submit(event) {
  event.preventDefault();
  showError("");
  setBusy(true);
  try {
    if (mode() === "align") {
      const body = { source: $("source").value, target: $("target").value, link_rule: $("link-rule").value };
      const result = await api("POST", "/v1/align", body);
      const a = result.alignments[0];
      show_document({ ...a, text: a.target, model: result.model });
    } else {
      const body = { text: $("source").value, beam_size: number("beam-size"), n_best: number("n-best") };
      const k = number("candidates");
      if (view.features.candidates && k > 0) body.return_candidates = k;
      const result = await api("POST", "/v1/translate", body);
      const t = result.translations[0];
      show_document({ ...t, source: $("source").value, model: result.model, options: { beam_size: body.beam_size } });
    }
  } catch (error) {
    showError(error.message);
  } finally {
    setBusy(false);
  }
}

function show_document(doc) {
  view.doc = doc;
  view.step = 0;
  render();
}

async function loadPermalink(id) {
  setBusy(true);
  try {
    const doc = await api("GET", `/v1/translations/${encodeURIComponent(id)}`);
    $("source").value = doc.source;
    show_document({ ...doc, stored: true });
  } catch (error) {
    showError(error.message);
  } finally {
    setBusy(false);
  }
}

/** With a key, downloads go through fetch so the Authorization header is sent. */
async function download(event) {
  const link = event.currentTarget;
  if (!$("api-key").value.trim()) return;
  event.preventDefault();
  try {
    const response = await fetch(link.href, { headers: authHeaders() });
    if (!response.ok) throw new Error((await response.json()).error.message);
    const url = URL.createObjectURL(await response.blob());
    const a = el("a", { href: url, download: link.download });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    showError(error.message);
  }
}

function setMode() {
  const align = mode() === "align";
  $("target-field").hidden = !align;
  $("target").required = align;
  document.querySelectorAll(".translate-only").forEach((node) => (node.hidden = align));
  document.querySelectorAll(".align-only").forEach((node) => (node.hidden = !align));
  $("submit").textContent = align ? "Align" : "Translate";
}

function init() {
  const key = $("api-key");
  key.value = sessionStorage.getItem(KEY_STORAGE) || "";
  if (key.value) $("key-box").open = true;
  key.addEventListener("input", () => sessionStorage.setItem(KEY_STORAGE, key.value));
  $("form").addEventListener("submit", submit);
  $("source").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("form").requestSubmit();
  });
  document.querySelectorAll('input[name="mode"]').forEach((r) => r.addEventListener("change", setMode));
  document.querySelectorAll('input[name="level"]').forEach((r) =>
    r.addEventListener("change", () => {
      view.level = r.value;
      render();
    }),
  );
  document.querySelectorAll('input[name="matrix"]').forEach((r) =>
    r.addEventListener("change", () => {
      view.matrix = r.value;
      render();
    }),
  );
  $("show-links").addEventListener("change", (event) => {
    view.links = event.target.checked;
    render();
  });
  const result = $("result");
  result.addEventListener("mouseover", onPoint);
  result.addEventListener("focusin", onPoint);
  result.addEventListener("mouseleave", clearHighlight);
  result.addEventListener("focusout", (event) => {
    if (!result.contains(event.relatedTarget)) clearHighlight();
  });
  $("step").addEventListener("input", (event) => {
    view.step = Number(event.target.value);
    renderStep();
  });
  $("step-prev").addEventListener("click", () => moveStep(-1));
  $("step-next").addEventListener("click", () => moveStep(1));
  document.querySelectorAll("[data-download]").forEach((a) => a.addEventListener("click", download));
  setMode();
  detectFeatures();
  const match = window.location.pathname.match(/^\/t\/([^/]+)$/);
  if (match) loadPermalink(match[1]);
}

document.addEventListener("DOMContentLoaded", init);
