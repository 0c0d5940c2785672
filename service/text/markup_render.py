"""A unit's translation written back as markup: each target word takes the stacks of the
source words linked to it, atoms and elements whose words got no link are placed beside the
nearest linked word, and the unit is written by diffing consecutive stacks. The rules are
listed in :mod:`service.text.markup`."""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Collection
from dataclasses import dataclass

from service.text.markup_tree import Element
from service.text.markup_units import Item, Stack, Template, Unit, Word


@dataclass(frozen=True)
class UnitTranslation:
    text: str  # plain translation of one unit
    links: Collection[tuple[int, int]]  # (source word, target word) over the split() words


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _common(stack: Stack, other: Stack) -> Stack:
    return tuple(element for element in stack if element in other)


def place(unit: Unit, translation: UnitTranslation) -> list[Item]:
    """The unit's translation as items: target words under their stacks, atoms among them."""
    matches = list(re.finditer(r"\S+", translation.text))
    targets = [match.group() for match in matches]
    separators = [translation.text[a.end() : b.start()] for a, b in itertools.pairwise(matches)]
    words = unit.words
    sources_of: list[set[int]] = [set() for _ in targets]
    targets_of: list[set[int]] = [set() for _ in words]
    for source, target in translation.links:
        if not (0 <= source < len(words) and 0 <= target < len(targets)):
            raise ValueError(f"link {(source, target)} is outside {len(words)}x{len(targets)}")
        sources_of[target].add(source)
        targets_of[source].add(target)

    stacks: list[Stack] = []
    for linked in sources_of:
        elements = {element for source in linked for element in words[source].stack}
        stacks.append(tuple(sorted(elements, key=lambda element: element.order)))
    aligned = [j for j, linked in enumerate(sources_of) if linked]
    for j, linked in enumerate(sources_of):
        if not linked:  # TransIns: the tags its aligned neighbours share
            left = [k for k in aligned if k < j]
            right = [k for k in aligned if k > j]
            stacks[j] = _common(stacks[left[-1]], stacks[right[0]]) if left and right else ()
    carriers = unit.carriers

    def keep(item: Item, *around: Stack) -> Item:
        shown = {element for stack in around for element in stack}
        stack = tuple(e for e in item.stack if e in shown or e not in carriers)
        return Item(stack, item.text, item.template)

    def under(item: Item, anchor: int | None) -> Item:
        base = stacks[anchor] if anchor is not None else ()
        return Item(
            (*base, *(e for e in item.stack if e not in carriers)), item.text, item.template
        )

    def anchor_before(source: int) -> int | None:
        """The last target word of the nearest linked source word before ``source``."""
        for earlier in range(source - 1, -1, -1):
            if targets_of[earlier]:
                return max(targets_of[earlier])
        return None

    verbatim = [
        len(linked) == 1
        and len(targets_of[i := next(iter(linked))]) == 1
        and targets[j] == words[i].text
        for j, linked in enumerate(sources_of)
    ]
    owner = [min(linked) if linked else None for linked in targets_of]
    reused: dict[int, int] = {}  # target gap -> source gap
    for k in range(len(unit.gaps)):
        for j in range(len(targets) - 1):
            if j not in reused and k in sources_of[j] and k + 1 in sources_of[j + 1]:
                reused[j] = k
                break
    shown = {element for stack in stacks for element in stack}
    extras: dict[int | None, list[Item]] = {}  # atoms and empty elements displaced
    empties: dict[int | None, list[Item]] = {}  # elements none of whose words is linked
    for i, word in enumerate(words):
        if owner[i] is None:
            extras.setdefault(anchor_before(i), []).extend(word.atoms)
        missing = tuple(e for e in word.stack if e not in shown)
        if missing:
            shown.update(missing)
            anchor = anchor_before(i)
            base = stacks[anchor] if anchor is not None else ()
            empties.setdefault(anchor, []).append(Item((*base, *missing), template=()))
        if i < len(unit.gaps) and i not in reused.values():
            kept = [it for it in unit.gaps[i] if not it.is_space or set(it.stack) - carriers]
            extras.setdefault(anchor_before(i + 1), []).extend(kept)

    first = stacks[0] if stacks else ()
    out = [keep(item, first) for item in unit.lead]
    out += [under(item, None) for item in extras.get(None, [])]
    out += empties.get(None, [])
    for j, word_text in enumerate(targets):
        owned = [words[i] for i, o in enumerate(owner) if o == j]
        if verbatim[j]:
            out += owned[0].items
        else:
            before = [item for word in owned for item in _atoms_before_text(word)]
            after = [a for w in owned for a in w.atoms if all(a is not b for b in before)]
            out += [keep(item, stacks[j]) for item in before]
            out.append(Item(stacks[j], word_text))
            out += [keep(item, stacks[j]) for item in after]
        out += [under(item, j) for item in extras.get(j, [])]
        out += empties.get(j, [])
        if j in reused:
            out += [keep(item, stacks[j], stacks[j + 1]) for item in unit.gaps[reused[j]]]
        elif j < len(separators):
            out.append(Item(_common(stacks[j], stacks[j + 1]), separators[j]))
    last = stacks[-1] if stacks else ()
    out += [keep(item, last) for item in unit.tail]
    return out


def _atoms_before_text(word: Word) -> list[Item]:
    prefix = []
    for item in word.items:
        if item.template is None:
            break
        prefix.append(item)
    return prefix


def write(
    items: list[Item], starts: dict[Element, Template], texts: list[str], out: list[str]
) -> None:
    """Write ``items``, opening and closing elements where consecutive stacks differ."""
    current: Stack = ()
    for item in [*items, Item(())]:
        common = 0
        while common < min(len(current), len(item.stack)) and current[common] is item.stack[common]:
            common += 1
        out.extend(element.end for element in reversed(current[common:]))
        out.extend(fill(starts.get(e, (e.start,)), texts) for e in item.stack[common:])
        current = item.stack
        out.append(_escape(item.text) if item.template is None else fill(item.template, texts))


def fill(template: Template, texts: list[str]) -> str:
    parts: list[str] = []
    for part in template:
        if isinstance(part, str):
            parts.append(part)
            continue
        value = part.lead + texts[part.unit].strip() + part.tail
        value = value.replace("&", "&amp;").replace("<", "&lt;")
        if part.quote == "'":
            parts.append("'" + value.replace("'", "&#39;") + "'")
        elif part.quote == "" and re.fullmatch(r"[^\s\"'=<>`]+", value):
            parts.append(value)
        else:
            parts.append('"' + value.replace('"', "&quot;") + '"')
    return "".join(parts)
