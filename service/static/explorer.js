// Alignment explorer: a page over the public API (POST /v1/translate, POST /v1/align,
// GET /v1/translations/{id}, GET /v1/models). No framework, no build step; the markup view
// is in markup.js.
"use strict";

const EOS = "</s>";
const BOUNDARY = "\u2581";
const KEY_STORAGE = "bahdanau-serve.api-key";
const $ = (id) => document.getElementById(id);

const view = {
  doc: null, // {id, source, text, score, alternatives, storage, alignment, sentences, candidates, token_scores, markup, prefix}
  level: "word",
  matrix: "attention",
  links: false,
  step: 0,
  features: { candidates: false, align: false },
  models: null, // the GET /v1/models call filling the direction picker
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

function parseLinks(pharaoh) {
  return (pharaoh || "")
    .split(/\s+/)
    .filter(Boolean)
    .map((pair) => pair.split("-").map(Number)); // [source word, target word]
}

/**
 * The sentence blocks of an alignment: `alignment.sentences`, or for a text of one sentence
 * one block over the top-level matrices, so both read the same way.
 */
function sentenceBlocks(alignment) {
  if (alignment.sentences && alignment.sentences.length) return alignment.sentences;
  const words = alignment.words;
  return [
    {
      source_tokens: [0, alignment.source_tokens.length],
      target_tokens: [0, alignment.target_tokens.length],
      source_words: [0, words.source.length - 1],
      target_words: [0, words.target.length - 1],
      attention: alignment.attention,
      words_attention: words.attention,
      alignment_head: alignment.alignment_head || null,
    },
  ];
}

/**
 * Labels, matrices and links at the chosen level, sentence by sentence.
 *
 * Every label, chip and cell carries a key on its side (`data-s`, `data-t`): at the word
 * level the index into `words.source` / `words.target` (the last sentence's `</s>` is their
 * final `</s>`, an earlier sentence's `</s>` is `eos<k>`); at the subword level the index
 * into `source_tokens` / `target_tokens`. `pos` finds a key's sentence and row or column,
 * `word` its word (for the markup view), `linked` the keys its Pharaoh links reach.
 */
function levelData(alignment, level) {
  const words = alignment.words;
  const raw = sentenceBlocks(alignment);
  const last = raw.length - 1;
  const wordLinks = parseLinks(alignment.pharaoh);
  const data = {
    source: [],
    target: [],
    sourceKeys: [],
    targetKeys: [],
    blocks: [],
    pos: { s: new Map(), t: new Map() },
    word: { s: new Map(), t: new Map() },
    linked: { s: new Map(), t: new Map() },
    pieces: { s: new Map(), t: new Map() }, // word -> its piece keys (subword level)
  };
  raw.forEach((block, k) => {
    const sides = {};
    for (const [side, tokens, wordRange, pieceRange] of [
      ["s", alignment.source_tokens, block.source_words, block.source_tokens],
      ["t", alignment.target_tokens, block.target_words, block.target_tokens],
    ]) {
      const [w0, w1] = wordRange;
      const [p0, p1] = pieceRange;
      const pieceWords = wordSpans(tokens.slice(p0, p1)); // its words, then its </s>
      const eosKey = k === last ? String((side === "s" ? words.source : words.target).length - 1) : `eos${k}`;
      const labels = [];
      const keys = [];
      const wordOf = []; // local row/column -> global word or null
      if (level === "word") {
        for (let w = w0; w < w1; w++) {
          labels.push((side === "s" ? words.source : words.target)[w]);
          keys.push(String(w));
          wordOf.push(w);
        }
        labels.push(EOS);
        keys.push(eosKey);
        wordOf.push(null);
      } else {
        const owner = pieceToWord(pieceWords);
        for (let p = p0; p < p1; p++) {
          labels.push(tokens[p]);
          keys.push(String(p));
          const w = owner[p - p0];
          wordOf.push(w < w1 - w0 ? w0 + w : null);
        }
      }
      keys.forEach((key, i) => {
        data.pos[side].set(key, { k, i });
        if (wordOf[i] !== null) data.word[side].set(key, wordOf[i]);
      });
      pieceWords.forEach(([a, b], w) => {
        if (w < w1 - w0) {
          const globalKeys = [];
          for (let p = a; p < b; p++) globalKeys.push(String(p0 + p));
          data.pieces[side].set(w0 + w, globalKeys);
        }
      });
      sides[side] = { labels, keys, wordRange, pieceWords, p0 };
    }
    // A word link marks its one cell at the word level, every piece pair of the two words
    // at the subword level.
    const cells = [];
    for (const [s, t] of wordLinks) {
      const [sw0, sw1] = block.source_words;
      const [tw0, tw1] = block.target_words;
      if (s < sw0 || s >= sw1 || t < tw0 || t >= tw1) continue;
      const pair = [];
      if (level === "word") pair.push([s - sw0, t - tw0]);
      else {
        const [a0, a1] = sides.s.pieceWords[s - sw0];
        const [b0, b1] = sides.t.pieceWords[t - tw0];
        for (let j = b0; j < b1; j++) for (let i = a0; i < a1; i++) pair.push([i, j]);
      }
      cells.push(...pair);
      for (const [i, j] of pair) {
        const sKey = sides.s.keys[i];
        const tKey = sides.t.keys[j];
        if (!data.linked.s.has(sKey)) data.linked.s.set(sKey, new Set());
        if (!data.linked.t.has(tKey)) data.linked.t.set(tKey, new Set());
        data.linked.s.get(sKey).add(tKey);
        data.linked.t.get(tKey).add(sKey);
      }
    }
    const head = block.alignment_head || null;
    data.blocks.push({
      k,
      source: sides.s.labels,
      target: sides.t.labels,
      sourceKeys: sides.s.keys,
      targetKeys: sides.t.keys,
      attention: level === "word" ? block.words_attention : block.attention,
      head: head ? (level === "word" ? head.words : head.attention) : null,
      pieceAttention: block.attention,
      sourcePieceWords: sides.s.pieceWords,
      targetPieceWords: sides.t.pieceWords,
      sourcePieces: block.source_tokens,
      targetPieces: block.target_tokens,
      links: cells,
    });
  });
  // The whole text's rows.
  if (level === "word") {
    data.source = words.source;
    data.target = words.target;
    data.sourceKeys = words.source.map((_, i) => String(i));
    data.targetKeys = words.target.map((_, i) => String(i));
  } else {
    data.source = alignment.source_tokens;
    data.target = alignment.target_tokens;
    data.sourceKeys = data.source.map((_, i) => String(i));
    data.targetKeys = data.target.map((_, i) => String(i));
  }
  return data;
}

/** The keys of a word at the current level. */
function keysOfWord(side, word) {
  if (view.level === "word") return [String(word)];
  return view.data.pieces[side].get(word) || [];
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

function imageHref(doc, format, sentence) {
  const params = new URLSearchParams({ level: view.level });
  if (view.matrix === "head" && view.data && view.data.blocks.some((b) => b.head)) params.set("matrix", "alignment_head");
  if (sentence !== null) params.set("sentence", String(sentence));
  return `/v1/translations/${doc.id}/alignment.${format}?${params}`;
}

function imageName(doc, format, sentence) {
  return `${doc.id}-${view.level}${sentence === null ? "" : `-s${sentence + 1}`}.${format}`;
}

/** A document has a permalink as soon as it has an id, unless the buffer dropped it. */
function storageOf(doc) {
  if (doc.storage) return doc.storage;
  return doc.stored === false ? "pending" : "stored";
}

function renderSummary(doc) {
  $("translation-text").textContent = doc.text;
  if (doc.model && doc.model.target_lang) $("translation-text").lang = doc.model.target_lang;
  const scores = [];
  if (doc.score !== undefined && doc.score !== null) scores.push(`score ${fmt(doc.score, 3)}`);
  if (doc.model) scores.push(`${doc.model.name} ${doc.model.version}`);
  if (doc.options && doc.options.beam_size) scores.push(`beam ${doc.options.beam_size}`);
  if (doc.prefix) scores.push(`started from “${doc.prefix}”`);
  const count = (doc.sentences || []).length;
  if (count > 1) scores.push(`${count} sentences`);
  $("score").textContent = scores.join(" · ");
  const list = $("alternatives");
  list.replaceChildren(
    ...(doc.alternatives || []).map((alt) =>
      el("li", {}, el("span", { text: alt.text }), " ", el("span", { class: "muted", text: fmt(alt.score, 3) })),
    ),
  );
  list.hidden = !(doc.alternatives || []).length;
  const storage = storageOf(doc);
  const linked = Boolean(doc.id) && storage !== "dropped";
  $("links").hidden = !linked;
  $("storage-note").hidden = storage !== "pending";
  $("dropped-note").hidden = storage !== "dropped";
  if (linked) {
    const multi = isMulti(doc);
    $("permalink").href = `/t/${doc.id}`;
    $("dl-json").href = `/v1/translations/${doc.id}`;
    $("dl-json").download = `${doc.id}.json`;
    $("dl-images").hidden = multi; // several sentences: each heatmap has its own downloads
    if (!multi) {
      for (const format of ["svg", "png"]) {
        $(`dl-${format}`).href = imageHref(doc, format, null);
        $(`dl-${format}`).download = imageName(doc, format, null);
      }
    }
  }
}

const isMulti = (doc) => Boolean(doc.alignment.sentences && doc.alignment.sentences.length);

function chips(tokens, keys, side) {
  return tokens.map((token, index) =>
    el("span", { class: "word", tabindex: "0", [`data-${side}`]: keys[index], text: show(token) }),
  );
}

function renderWords(data) {
  $("source-words").replaceChildren(...chips(data.source, data.sourceKeys, "s"));
  $("target-words").replaceChildren(...chips(data.target, data.targetKeys, "t"));
  const editable = canEditFrom(view.doc);
  $("target-words").classList.toggle("editable", editable);
  $("prefix-hint").hidden = !editable;
  if (!editable) $("prefix-form").hidden = true;
}

// ---- editing the translation from a word -------------------------------------------------

/** A decoded plain-text translation can be re-decoded from a prefix (not markup, not align). */
function canEditFrom(doc) {
  return Boolean(doc) && !doc.markup && !doc.token_scores && !(doc.options && doc.options.forced);
}

/** The translation up to and including target word `word` (an index into words.target). */
function textThrough(doc, word) {
  const span = doc.alignment.words.target_spans[word];
  return span ? doc.text.slice(0, span[1]) : null;
}

/** Open the prefix box on a target chip's word: its text up to that word, ready to edit. */
function editFrom(key) {
  if (!canEditFrom(view.doc)) return;
  const word = view.data.word.t.get(key);
  const text = word === undefined ? null : textThrough(view.doc, word);
  if (text === null) return;
  $("prefix").value = text;
  $("prefix-form").hidden = false;
  $("prefix").focus();
  $("prefix").setSelectionRange(text.length, text.length);
}

function onTargetChip(event) {
  const chip = event.target.closest("[data-t]");
  if (!chip) return;
  if (event.type === "keydown") {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
  }
  editFrom(chip.dataset.t);
}

async function retranslate(event) {
  event.preventDefault();
  const prefix = $("prefix").value;
  if (!prefix.trim()) {
    showError("Type the start of the translation, or cancel.");
    return;
  }
  await translateWith(prefix);
}

function heatmap(title, matrix, block, kind) {
  const grid = el("div", {
    class: "heatmap",
    role: "grid",
    "aria-label": title,
    "data-kind": kind,
    "data-k": String(block.k),
    style: `grid-template-columns: max-content repeat(${block.source.length}, var(--cell));`,
  });
  grid.append(el("div", { class: "corner" }));
  block.source.forEach((token, i) =>
    grid.append(el("div", { class: "col-label", "data-s": block.sourceKeys[i], tabindex: "-1", text: show(token) })),
  );
  const linked = new Set(block.links.map(([i, j]) => `${j}:${i}`));
  matrix.forEach((row, j) => {
    const tKey = block.targetKeys[j];
    grid.append(el("div", { class: "row-label", "data-t": tKey, tabindex: "0", text: show(block.target[j]) }));
    row.forEach((w, i) => {
      const cell = el("div", {
        class: "cell",
        "data-s": block.sourceKeys[i],
        "data-t": tKey,
        "data-w": fmt(w, 4),
        title: `${show(block.source[i])} → ${show(block.target[j])}: ${fmt(w, 3)}`,
        style: `background:${grey(w)}`,
      });
      if (view.links && linked.has(`${j}:${i}`)) cell.classList.add("link");
      grid.append(cell);
    });
  });
  return el("figure", { class: "matrix" }, el("figcaption", { text: title }), grid);
}

/** One group per sentence: its texts, its heatmap(s) and, for several, its downloads. */
function renderMatrices(doc, data) {
  const hasHead = data.blocks.some((block) => block.head);
  const choice = hasHead ? view.matrix : "attention";
  const multi = data.blocks.length > 1;
  const groups = data.blocks.map((block) => {
    const figures = [];
    const prefix = multi ? `Sentence ${block.k + 1}: ` : "";
    if (choice !== "head") figures.push(heatmap(`${prefix}model attention α`, block.attention, block, "attention"));
    if (block.head && choice !== "attention") figures.push(heatmap(`${prefix}alignment head`, block.head, block, "head"));
    const group = el("section", { class: "sentence-map", "data-k": String(block.k), "aria-label": `Sentence ${block.k + 1}` });
    if (multi) group.append(sentenceHeader(doc, block.k));
    group.append(el("div", { class: "figures" }, ...figures));
    return group;
  });
  $("matrices").replaceChildren(...groups);
  $("matrices").classList.toggle("multi", multi);
  $("matrix-choice").hidden = !hasHead;
}

function sentenceHeader(doc, k) {
  const sentence = (doc.sentences || [])[k];
  const header = el("header", { class: "sentence-head" }, el("h3", { text: `Sentence ${k + 1}` }));
  if (sentence) {
    const source = plainSource(doc).slice(...sentence.source_span);
    const target = doc.text.slice(...sentence.target_span);
    header.append(
      el("p", { class: "sentence-text" }, el("span", { class: "tag", text: "source" }), el("span", { text: source })),
      el("p", { class: "sentence-text" }, el("span", { class: "tag", text: "target" }), el("span", { text: target })),
    );
    if (sentence.score !== undefined) header.append(el("p", { class: "muted small", text: `score ${fmt(sentence.score, 3)}` }));
  }
  if (doc.id && storageOf(doc) !== "dropped") {
    const links = el("p", { class: "links small" }, "download ");
    ["svg", "png"].forEach((format, n) => {
      if (n) links.append(" · ");
      links.append(
        el("a", { href: imageHref(doc, format, k), download: imageName(doc, format, k), "data-download": format, text: format.toUpperCase() }),
      );
    });
    links.querySelectorAll("a").forEach((a) => a.addEventListener("click", download));
    header.append(links);
  }
  return header;
}

/** The plain source the offsets index: given, or rebuilt from the words at their spans. */
function plainSource(doc) {
  if (!doc.markup) return doc.source;
  if (doc.plainSource === undefined) {
    const words = doc.alignment.words;
    const chars = [];
    words.source_spans.forEach((span, w) => {
      if (!span) return;
      while (chars.length < span[0]) chars.push(" ");
      chars.push(...words.source[w]);
    });
    doc.plainSource = chars.join("");
  }
  return doc.plainSource;
}

function render() {
  const doc = view.doc;
  if (!doc) return;
  const data = levelData(doc.alignment, view.level);
  view.data = data;
  renderSummary(doc);
  renderMarkup(doc);
  renderWords(data);
  renderMatrices(doc, data);
  renderStep();
  $("result").hidden = false;
}

// ---- markup ------------------------------------------------------------------------------

function renderMarkup(doc) {
  const section = $("markup");
  section.hidden = !doc.markup;
  if (!doc.markup) return;
  if (!doc.markupView) {
    const links = parseLinks(doc.alignment.pharaoh);
    doc.markupView = Markup.analyse(doc.markup.source, doc.markup.target, doc.alignment.words, links);
  }
  const analysis = doc.markupView;
  const words = doc.alignment.words;
  const list = analysis.elements.map((element, i) => {
    const source = [...element.sourceWords].sort((a, b) => a - b).map((w) => words.source[w]).join(" ");
    const target = [...element.targetWords].sort((a, b) => a - b).map((w) => words.target[w]).join(" ");
    return el(
      "li",
      {},
      el(
        "button",
        { type: "button", class: "element", "data-element": String(i) },
        el("code", { text: element.tag }),
        " ",
        el("span", { text: source || element.text || "(no words)" }),
        " → ",
        el("span", { class: target ? "" : "muted", text: target || "(on no word)" }),
      ),
    );
  });
  $("elements").replaceChildren(...list);
  $("elements-empty").hidden = list.length > 0;
  $("rendered-source").replaceChildren(Markup.draw(analysis.source, "data-ws"));
  $("rendered-target").replaceChildren(Markup.draw(analysis.target, "data-wt"));
  $("target-markup").textContent = doc.markup.target;
  $("source-markup").textContent = doc.markup.source;
}

// ---- hover and focus ---------------------------------------------------------------------

function clearHighlight() {
  document.querySelectorAll(".hl, .lit, .linked").forEach((node) => {
    node.classList.remove("hl", "lit", "linked");
    node.style.removeProperty("--w");
  });
}

/** The nodes showing `side`'s key: chips and labels, and the word in the markup view. */
function nodesOf(side, key) {
  const nodes = [...document.querySelectorAll(`#result [data-${side}="${key}"]:not(.cell)`)];
  const word = view.data.word[side].get(key);
  if (word !== undefined) nodes.push(...document.querySelectorAll(`.frag[data-w${side}="${word}"]`));
  return nodes;
}

function light(side, key, name, weight) {
  for (const node of nodesOf(side, key)) {
    node.classList.add(name);
    if (weight !== undefined) node.style.setProperty("--w", fmt(weight, 3));
  }
}

/**
 * Light the words on the other side of `side`'s `key`: by their weights in its sentence's
 * matrix (filled), and those its Pharaoh links reach (outlined).
 */
function highlight(side, key) {
  clearHighlight();
  const data = view.data;
  const pos = data && data.pos[side].get(key);
  if (!pos) return;
  const block = data.blocks[pos.k];
  const matrix = view.matrix === "head" && block.head ? block.head : block.attention;
  const other = side === "t" ? "s" : "t";
  const otherKeys = side === "t" ? block.sourceKeys : block.targetKeys;
  const weights = side === "t" ? matrix[pos.i] : matrix.map((row) => row[pos.i]);
  light(side, key, "lit");
  document.querySelectorAll(`.cell[data-${side}="${key}"]`).forEach((node) => node.classList.add("lit"));
  weights.forEach((w, k) => {
    if (w >= 0.05) light(other, otherKeys[k], "hl", w);
  });
  for (const linked of data.linked[side].get(key) || []) light(other, linked, "linked");
}

/** An inline element of the source: its source words and the target words it landed on. */
function lightElement(index) {
  clearHighlight();
  const element = view.doc.markupView.elements[index];
  document.querySelector(`[data-element="${index}"]`).classList.add("lit");
  for (const [side, found] of [["s", element.sourceWords], ["t", element.targetWords]]) {
    for (const word of found) for (const key of keysOfWord(side, word)) light(side, key, "lit");
  }
}

function onPoint(event) {
  const node = event.target.closest("[data-t], [data-s], [data-wt], [data-ws], [data-element]");
  if (!node || !$("result").contains(node) || node.closest("#steps")) return;
  const d = node.dataset;
  if (d.element !== undefined) lightElement(Number(d.element));
  else if (d.t !== undefined) highlight("t", d.t);
  else if (d.s !== undefined) highlight("s", d.s);
  else if (d.wt !== undefined) highlight("t", keysOfWord("t", Number(d.wt))[0]);
  else highlight("s", keysOfWord("s", Number(d.ws))[0]);
}

// ---- step by step ------------------------------------------------------------------------

function renderStep() {
  const doc = view.doc;
  const data = view.data;
  const pieces = doc.alignment.target_tokens;
  const slider = $("step");
  slider.max = String(pieces.length - 1);
  view.step = Math.min(view.step, pieces.length - 1);
  slider.value = String(view.step);
  const i = view.step;
  const block = data.blocks.find((b) => i >= b.targetPieces[0] && i < b.targetPieces[1]) || data.blocks[0];
  const local = i - block.targetPieces[0];
  const row = block.pieceAttention[local];
  const labels = block.source;
  let weights = row;
  let litKey = String(i);
  if (view.level === "word") {
    weights = block.sourcePieceWords.map(([a, b]) => row.slice(a, b).reduce((x, y) => x + y, 0));
    litKey = block.targetKeys[pieceToWord(block.targetPieceWords)[local]];
  }
  const where = data.blocks.length > 1 ? ` (sentence ${block.k + 1})` : "";
  $("step-label").textContent = `step ${i + 1} of ${pieces.length}: emitted “${show(pieces[i])}”${where}`;
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
  document.querySelectorAll(`.heatmap [data-t="${litKey}"]`).forEach((node) => node.classList.add("step"));

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

// ---- models and directions ---------------------------------------------------------------

function languageName(code) {
  try {
    return new Intl.DisplayNames(["en"], { type: "language" }).of(code) || code;
  } catch {
    return code;
  }
}

/** The direction picker, from GET /v1/models: one option per served language pair. */
async function loadModels() {
  const picker = $("direction");
  let models;
  try {
    models = (await api("GET", "/v1/models")).models || [];
  } catch (error) {
    picker.replaceChildren(el("option", { value: "", text: "(the server's model)" }));
    picker.title = `could not list the models: ${error.message}`;
    return;
  }
  const chosen = picker.value;
  picker.replaceChildren(
    ...models.map((model) =>
      el("option", {
        value: `${model.source_lang}-${model.target_lang}`,
        "data-source": model.source_lang,
        "data-target": model.target_lang,
        title: `${model.name} ${model.version}`,
        text: `${languageName(model.source_lang)} → ${languageName(model.target_lang)} (${model.source_lang}→${model.target_lang})`,
      }),
    ),
  );
  if ([...picker.options].some((option) => option.value === chosen)) picker.value = chosen;
  picker.title = "";
  setDirection();
}

function direction() {
  const option = $("direction").selectedOptions[0];
  if (!option || !option.dataset.source) return {};
  return { source_lang: option.dataset.source, target_lang: option.dataset.target };
}

function setDirection() {
  const { source_lang: source, target_lang: target } = direction();
  if (source) $("source").lang = source;
  if (target) $("target").lang = target;
}

// ---- actions -----------------------------------------------------------------------------

function number(id) {
  return Number.parseInt($(id).value, 10);
}

function setBusy(busy) {
  $("submit").disabled = busy;
  $("retranslate").disabled = busy;
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
  const format = $("format").value;
  const markup = format !== "text";
  try {
    await view.models; // the direction picker is filled before the first request
    if (mode() === "align") {
      const body = { source: $("source").value, target: $("target").value, link_rule: $("link-rule").value, ...direction() };
      if (markup) body.format = format;
      const result = await api("POST", "/v1/align", body);
      const a = result.alignments[0];
      const doc = { ...a, text: a.target, model: result.model };
      if (markup && a.target_markup) doc.markup = { source: a.source, target: a.target_markup };
      show_document(doc);
    } else {
      await translateText(format, null);
    }
  } catch (error) {
    showError(error.message);
  } finally {
    setBusy(false);
  }
}

/** Translate the source text, from `prefix` when given (POST /v1/translate target_prefix). */
async function translateText(format, prefix) {
  const markup = format !== "text";
  const body = { text: $("source").value, beam_size: number("beam-size"), n_best: number("n-best"), ...direction() };
  if (markup) body.format = format;
  if (prefix !== null) body.target_prefix = prefix;
  const k = number("candidates");
  if (view.features.candidates && k > 0) body.return_candidates = k;
  const result = await api("POST", "/v1/translate", body);
  const t = result.translations[0];
  const doc = { ...t, source: $("source").value, model: result.model, options: { beam_size: body.beam_size }, prefix };
  if (markup && t.plain) {
    Object.assign(doc, { source: t.plain.source, text: t.plain.target, markup: { source: $("source").value, target: t.text } });
  }
  show_document(doc);
}

async function translateWith(prefix) {
  showError("");
  setBusy(true);
  try {
    await view.models;
    await translateText("text", prefix);
    $("prefix-form").hidden = true;
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
    show_document({ ...doc, storage: "stored" });
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
  const markup = $("format").value !== "text";
  $("target-field").hidden = !align;
  $("target").required = align;
  document.querySelectorAll(".translate-only").forEach((node) => (node.hidden = align));
  document.querySelectorAll(".align-only").forEach((node) => (node.hidden = !align));
  $("source-label").textContent = markup ? "Source markup (HTML)" : "Source text";
  $("target-label").textContent = markup ? "Its translation (plain text, one line per block)" : "Its translation";
  $("submit").textContent = align ? "Align" : "Translate";
}

function init() {
  const key = $("api-key");
  key.value = sessionStorage.getItem(KEY_STORAGE) || "";
  if (key.value) $("key-box").open = true;
  key.addEventListener("input", () => sessionStorage.setItem(KEY_STORAGE, key.value));
  key.addEventListener("change", () => (view.models = loadModels()));
  $("form").addEventListener("submit", submit);
  $("source").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("form").requestSubmit();
  });
  document.querySelectorAll('input[name="mode"]').forEach((r) => r.addEventListener("change", setMode));
  $("format").addEventListener("change", setMode);
  $("direction").addEventListener("change", setDirection);
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
  $("target-words").addEventListener("click", onTargetChip);
  $("target-words").addEventListener("keydown", onTargetChip);
  $("prefix-form").addEventListener("submit", retranslate);
  $("prefix").addEventListener("keydown", (event) => {
    if (event.key === "Escape") $("prefix-cancel").click();
  });
  $("prefix-cancel").addEventListener("click", () => {
    $("prefix-form").hidden = true;
    showError("");
  });
  $("step-prev").addEventListener("click", () => moveStep(-1));
  $("step-next").addEventListener("click", () => moveStep(1));
  document.querySelectorAll("#links [data-download]").forEach((a) => a.addEventListener("click", download));
  setMode();
  detectFeatures();
  view.models = loadModels();
  const match = window.location.pathname.match(/^\/t\/([^/]+)$/);
  if (match) loadPermalink(match[1]);
}

document.addEventListener("DOMContentLoaded", init);
