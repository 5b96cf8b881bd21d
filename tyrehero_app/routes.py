"""Paths of the pages and URL builders."""

HOME = "/"
REQUEST_FORM = "/request"
API_DOCS = "/docs"


def track(token: str) -> str:
    return f"/track/{token}"
