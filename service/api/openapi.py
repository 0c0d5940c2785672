"""The OpenAPI document says what the server enforces: non-empty texts within the size
limits, the language pairs it serves, beam sizes and ``n_best <= beam_size``, the shape of
``target_prefix`` (that of the texts, and none with markup) and no ``link_rule`` with
``links: "agreement"``, so that a client generated from the schema builds requests the
server accepts.

FastAPI derives the document from the request models, which cannot know the settings or
the models loaded; :func:`constrain` writes those limits into it once, at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from service.config import Settings

# A text: some non-whitespace character, and no control character but tab, LF and CR
# (see schemas.check_text).
_ALLOWED = r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]"
TEXT_PATTERN = rf"^{_ALLOWED}*[^\s\u0000-\u001f\u007f-\u009f]{_ALLOWED}*$"
TEXT_FIELDS = {"text", "q", "source", "target"}  # request fields that carry texts


def _text(settings: Settings) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": settings.max_chars,
        "pattern": TEXT_PATTERN,
    }


def _texts(schema: dict[str, Any], settings: Settings, null_items: bool = False) -> None:
    """Constrain a text field: a string, or a list of strings (or of strings and nulls)."""
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "string":
            option.update(_text(settings))
        elif option.get("type") == "array":
            option.update({"minItems": 1, "maxItems": settings.max_texts})
            option["items"] = _text(settings)
            if null_items:
                option["items"] = {"anyOf": [option["items"], {"type": "null"}]}


def _request_schemas(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every request body schema: the models' components and the bodies routes read by hand."""
    components = document.get("components", {}).get("schemas", {})
    for name in ("TranslateRequest", "AlignRequest"):
        if name in components:
            yield components[name]
    for path in document.get("paths", {}).values():
        for operation in path.values():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                schema = content.get("schema", {})
                if "properties" in schema:
                    yield schema


def _pairs_rule(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """source_lang and target_lang name a served pair; either may be left out."""
    options = []
    for source in [None, *dict.fromkeys(s for s, _ in pairs)]:
        for target in [None, *dict.fromkeys(t for _, t in pairs)]:
            if source is not None and target is not None and (source, target) not in pairs:
                continue
            options.append(
                {
                    "properties": {
                        "source_lang": {"const": source} if source else {"type": "null"},
                        "target_lang": {"const": target} if target else {"type": "null"},
                    }
                }
            )
    return {"anyOf": options}


def _beam_rule(settings: Settings) -> dict[str, Any]:
    """n_best <= beam_size, beam_size defaulting to the settings' (JSON Schema cannot
    compare two fields, so each beam size is its own case)."""
    cases: list[dict[str, Any]] = [
        {
            "properties": {
                "beam_size": {"type": "null"},
                "n_best": {"maximum": settings.default_beam_size},
            }
        }
    ]
    cases += [
        {"properties": {"beam_size": {"const": k}, "n_best": {"maximum": k}}}
        for k in range(1, settings.max_beam_size + 1)
    ]
    return {"anyOf": cases}


def _prefix_rules(settings: Settings) -> list[dict[str, Any]]:
    """target_prefix: a string for a string text, a list as long as a list of texts (each
    length its own case), and none with markup."""
    absent = {"properties": {"target_prefix": {"type": "null"}}}
    same_shape: list[dict[str, Any]] = [
        absent,
        {"properties": {"text": {"type": "string"}, "target_prefix": {"type": "string"}}},
    ]
    same_shape += [
        {
            "properties": {
                "text": {"type": "array", "minItems": n, "maxItems": n},
                "target_prefix": {"type": "array", "minItems": n, "maxItems": n},
            }
        }
        for n in range(1, settings.max_texts + 1)
    ]
    plain_text = {"properties": {"format": {"const": "text"}}}
    return [{"anyOf": same_shape}, {"anyOf": [absent, plain_text]}]


def constrain(document: dict[str, Any], settings: Settings, pairs: list[tuple[str, str]]) -> None:
    """Write the settings' limits and the served pairs into an OpenAPI document, in place."""
    sources = list(dict.fromkeys(s for s, _ in pairs))
    targets = list(dict.fromkeys(t for _, t in pairs))
    for schema in _request_schemas(document):
        properties = schema["properties"]
        for name in TEXT_FIELDS & set(properties):
            if name in ("source", "target") and "source_lang" not in properties:
                continue  # LibreTranslate's source/target are languages, set below
            _texts(properties[name], settings)
        if "q" in properties:  # LibreTranslate
            if "source" in properties:
                properties["source"]["enum"] = [*sources, "auto"]
            if "target" in properties:
                properties["target"]["enum"] = targets
    components = document.get("components", {}).get("schemas", {})
    for name in ("TranslateRequest", "AlignRequest"):
        schema = components.get(name)
        if schema is None:
            continue
        for field, codes in (("source_lang", sources), ("target_lang", targets)):
            schema["properties"][field]["anyOf"] = [
                {"type": "string", "enum": codes},
                {"type": "null"},
            ]
        rules = [_pairs_rule(pairs)]
        if "beam_size" in schema["properties"]:
            schema["properties"]["beam_size"]["anyOf"][0]["maximum"] = settings.max_beam_size
            rules.append(_beam_rule(settings))
        if "target_prefix" in schema["properties"]:
            _texts(schema["properties"]["target_prefix"], settings, null_items=True)
            rules += _prefix_rules(settings)
        if {"link_rule", "links"} <= set(schema["properties"]):  # a rule is one direction's
            no_rule = {"properties": {"link_rule": {"type": "null"}}}
            one_way = {"properties": {"links": {"not": {"const": "agreement"}}}}
            rules.append({"anyOf": [no_rule, one_way]})
        schema["allOf"] = rules
