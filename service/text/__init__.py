"""Text handling: sentences, words with offsets, markup; pure functions over strings,
testable without a model or a server."""
