"""Text handling: pure functions over strings, testable without a model or a server."""
