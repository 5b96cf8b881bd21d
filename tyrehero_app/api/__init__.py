"""The HTTP API, mounted in the Reflex app with api_transformer."""
