"""Text handling beside the HTTP and inference layers: markup carried through an alignment."""

from service.text.markup import MarkupDocument, MarkupError, UnitTranslation, parse_markup

__all__ = ["MarkupDocument", "MarkupError", "UnitTranslation", "parse_markup"]
