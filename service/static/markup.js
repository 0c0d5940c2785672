// Markup view of the explorer: an HTML text and its translation, drawn safely, with each
// inline element of the source tied to the words it covers on both sides. Loaded before
// explorer.js, which calls `Markup.analyse` and `Markup.draw`.
//
// How an element's words are found (read off the answer; the service sends no element map):
// 1. `alignment.words.source` / `.target` are the whitespace words of the plain texts the
//    model translated, in order (`words.*_spans` index those texts). The markup's text nodes,
//    read in document order with a line break at every block element and `br`, hold the same
//    characters, so finding each word in turn in that reading ties every character of a text
//    node to the word it belongs to. Text the service keeps verbatim (`code`, `script`,
//    `translate="no"`, ...) is skipped, as the service skips it; a word not found there (the
//    translation of an `alt` or `title` value) is left out rather than guessed.
// 2. An inline element's words are the words with a character inside it.
// 3. The service writes a source element onto the target words its words are linked to,
//    with the same tag and attributes, once per run of words when they come apart. So a
//    target element belongs to the source element with the same tag and attributes; when
//    several share them, to the one whose words are linked (Pharaoh) to most of its words.
//
// Drawing never puts the pasted markup into the page: DOMParser builds an inert document
// (no script runs, nothing loads), and only its text and a fixed list of tag names, without
// any attribute, are copied into the page with createElement and textContent.
"use strict";

const Markup = (() => {
  const EOS = "</s>";
  const BLOCK = new Set(
    ("address article aside blockquote body caption dd details dialog div dl dt fieldset " +
      "figcaption figure footer form h1 h2 h3 h4 h5 h6 head header hgroup html legend li " +
      "main menu nav ol optgroup option p pre section summary table tbody td tfoot th thead " +
      "title tr ul br hr").split(" "),
  );
  const IGNORED = new Set("code kbd samp var pre script style textarea template".split(" "));
  const VOID = new Set("area base br col embed hr img input link meta source track wbr".split(" "));
  // Tags copied as themselves when drawn; any other becomes a div (block) or span (inline).
  const DRAWN = new Set(
    ("b strong i em u s small sub sup mark q abbr cite dfn span p div h1 h2 h3 h4 h5 h6 " +
      "ul ol li blockquote br code").split(" "),
  );
  const SPACE = /\s/;

  const isIgnored = (node) =>
    IGNORED.has(node.localName) ||
    node.getAttribute("translate") === "no" ||
    node.classList.contains("notranslate");

  function parse(markup) {
    return new DOMParser().parseFromString(markup, "text/html").body;
  }

  /** The text nodes of `root` in order: {text, runs: [{node, start}]}. */
  function read(root) {
    let text = "";
    const runs = [];
    const walk = (node) => {
      for (const child of node.childNodes) {
        if (child.nodeType === Node.TEXT_NODE) {
          runs.push({ node: child, start: text.length });
          text += child.data;
        } else if (child.nodeType === Node.ELEMENT_NODE && !isIgnored(child)) {
          const block = BLOCK.has(child.localName);
          if (block) text += "\n";
          walk(child);
          if (block) text += "\n";
        }
      }
    };
    walk(root);
    return { text, runs };
  }

  const boundaryAt = (text, i) => i <= 0 || i >= text.length || SPACE.test(text[i]) || SPACE.test(text[i - 1]);

  /** owner[c] = the index of the word character c of `text` belongs to, or -1. */
  function placeWords(text, words) {
    const owner = new Array(text.length).fill(-1);
    let cursor = 0;
    words.forEach((word, w) => {
      if (word === EOS || !word) return;
      let at = cursor;
      while (at < text.length && SPACE.test(text[at])) at++;
      if (!(text.startsWith(word, at) && boundaryAt(text, at + word.length))) {
        at = text.indexOf(word, cursor);
        while (at >= 0 && !(boundaryAt(text, at) && boundaryAt(text, at + word.length))) {
          at = text.indexOf(word, at + 1);
        }
      }
      if (at < 0) return;
      owner.fill(w, at, at + word.length);
      cursor = at + word.length;
    });
    return owner;
  }

  function side(markup, words) {
    const root = parse(markup);
    const reading = read(root);
    const owner = placeWords(reading.text, words);
    const starts = new Map(reading.runs.map((run) => [run.node, run.start]));
    const wordsIn = (element) => {
      const found = new Set();
      const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const start = starts.get(node);
        if (start === undefined) continue;
        for (let c = start; c < start + node.data.length; c++) if (owner[c] >= 0) found.add(owner[c]);
      }
      return found;
    };
    const inline = [];
    const visit = (node) => {
      for (const child of node.children) {
        if (isIgnored(child)) continue;
        const name = child.localName;
        if (!BLOCK.has(name) && !VOID.has(name)) inline.push(child);
        visit(child);
      }
    };
    visit(root);
    return { root, starts, owner, inline, wordsIn };
  }

  const signature = (element) =>
    [element.localName, ...[...element.attributes].map((a) => `${a.name}=${a.value}`).sort()].join(" ");

  function opening(element) {
    const attributes = [...element.attributes].map((a) => ` ${a.name}="${a.value}"`).join("");
    return `<${element.localName}${attributes}>`;
  }

  /**
   * The inline elements of the source and the words they hold on each side.
   * links: [source word, target word] pairs over `words`.
   */
  function analyse(sourceMarkup, targetMarkup, words, links) {
    const source = side(sourceMarkup, words.source);
    const target = side(targetMarkup, words.target);
    const elements = source.inline.map((element) => ({
      tag: opening(element),
      name: element.localName,
      text: element.textContent.replace(/\s+/g, " ").trim(),
      signature: signature(element),
      sourceWords: source.wordsIn(element),
      targetWords: new Set(),
    }));
    for (const element of target.inline) {
      const inside = target.wordsIn(element);
      const sig = signature(element);
      let best = null;
      let bestScore = -1;
      for (const candidate of elements) {
        if (candidate.signature !== sig) continue;
        const score = links.filter(([s, t]) => candidate.sourceWords.has(s) && inside.has(t)).length;
        if (score > bestScore) [best, bestScore] = [candidate, score];
      }
      if (best) inside.forEach((t) => best.targetWords.add(t));
    }
    return { source, target, elements };
  }

  /** A copy of a parsed side for the page: allowed tags only, no attributes, words marked. */
  function draw(parsed, attribute) {
    const copy = (node, into) => {
      for (const child of node.childNodes) {
        if (child.nodeType === Node.TEXT_NODE) {
          into.append(...fragments(child));
        } else if (child.nodeType === Node.ELEMENT_NODE) {
          const name = child.localName;
          if (name === "script" || name === "style" || name === "template" || name === "head") continue;
          if (name === "img") {
            const atom = document.createElement("span");
            atom.className = "atom";
            atom.textContent = child.getAttribute("alt") ? `[image: ${child.getAttribute("alt")}]` : "[image]";
            into.append(atom);
            continue;
          }
          const tag = DRAWN.has(name) ? name : BLOCK.has(name) ? "div" : "span";
          const made = document.createElement(tag);
          if (name === "a") made.className = "anchor";
          if (isIgnored(child)) {
            made.classList.add("verbatim");
            made.textContent = child.textContent;
          } else {
            copy(child, made);
          }
          into.append(made);
        }
      }
    };
    const fragments = (textNode) => {
      const start = parsed.starts.get(textNode);
      if (start === undefined) return [textNode.data];
      const out = [];
      let c = 0;
      const data = textNode.data;
      while (c < data.length) {
        const word = parsed.owner[start + c];
        let end = c + 1;
        while (end < data.length && parsed.owner[start + end] === word) end++;
        if (word >= 0) {
          const span = document.createElement("span");
          span.className = "frag";
          span.setAttribute(attribute, String(word));
          span.textContent = data.slice(c, end);
          out.push(span);
        } else {
          out.push(data.slice(c, end));
        }
        c = end;
      }
      return out;
    };
    const holder = document.createElement("div");
    holder.className = "rendered";
    copy(parsed.root, holder);
    return holder;
  }

  return { analyse, draw };
})();
