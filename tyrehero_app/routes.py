"""Paths of the pages and URL builders."""

HOME = "/"
REQUEST_FORM = "/request"
API_DOCS = "/docs"


def track(token: str) -> str:
    return f"/track/{token}"


def rate(token: str) -> str:
    """The rating link's path (the token from core.requests.rating.rating_token)."""
    return f"/rate/{token}"
