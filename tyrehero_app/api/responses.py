"""Answers of the hot endpoints, serialised once."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """The model as JSON, straight from pydantic.

    The endpoint keeps its `response_model` for the schema, but returns this: FastAPI would otherwise
    validate the model it was just given again and, for a sync endpoint, do so on another trip
    through the thread pool, which under load means queueing behind every other call once more.
    """
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
