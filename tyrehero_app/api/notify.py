"""Delivery reports from the SMS provider: Twilio's signed status callbacks."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from core.notify.outbox import MessageStatus, record_delivery_report
from core.notify.providers.twilio import STATUSES, signature_ok
from core.notify.relay import STATUS_CALLBACK_PATH
from tyrehero_app.runtime import get_core

router = APIRouter(tags=["notifications"])
FORGED = "Refused: this callback does not carry a valid X-Twilio-Signature."


@router.post(STATUS_CALLBACK_PATH, status_code=204, responses={403: {}, 404: {}, 422: {}})
async def twilio_status(request: Request) -> Response:
    """Twilio's report on one text (form fields MessageSid, MessageStatus, ErrorCode; our id as `?m=`).

    Signed by Twilio over the URL it called (PUBLIC_BASE_URL + this path + the query) and the form: a call
    without a valid signature is refused with 403 before anything is read or changed."""
    core = get_core()
    settings = core.settings
    if settings.notify_provider != "twilio":
        return JSONResponse(status_code=404, content={"detail": "Texts are not sent through Twilio here."})
    form = await request.form()
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    query = request.url.query
    url = f"{settings.public_base_url}{request.url.path}" + (f"?{query}" if query else "")
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    if not signature_ok(token, url, params, request.headers.get("X-Twilio-Signature")):
        return JSONResponse(status_code=403, content={"detail": FORGED})
    raw_id, sid, raw = request.query_params.get("m", ""), params.get("MessageSid", ""), params.get("MessageStatus", "")
    if not raw_id.isdigit() or not sid:
        return JSONResponse(status_code=422, content={"detail": [
            {"field": "m" if not raw_id.isdigit() else "MessageSid", "message": "missing or not ours"}]})
    status = STATUSES.get(raw)
    if status is None:  # a status we do not track (e.g. receiving): nothing to change
        return Response(status_code=204)
    error = f"twilio error {params['ErrorCode']}" if params.get("ErrorCode") else None
    await anyio.to_thread.run_sync(lambda: record_delivery_report(
        core, int(raw_id), "twilio", sid, raw, MessageStatus(status), error))
    return Response(status_code=204)
