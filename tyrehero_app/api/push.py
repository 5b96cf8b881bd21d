"""Offer alerts: a technician's phone subscribes to Web Push for its own technician (core.notify.push_subscriptions).

The technician is the session's (cookie or bearer token), never the body's: the body is the browser's
`PushSubscription.toJSON()` and names no one. Cross-site posts are refused by the OriginGuard like every
cookie-authenticated write."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from core.notify.push_subscriptions import (
    push_subscription_count,
    subscribe_push,
    unsubscribe_push,
    vapid_public_key,
)
from tyrehero_app.api.deps import CurrentTechnician, token_from
from tyrehero_app.runtime import get_core

router = APIRouter(tags=["technicians"])
PATH = "/api/v1/technicians/me/push-subscriptions"


class PushKeys(BaseModel):
    p256dh: str = Field("", max_length=200, description="the browser's P-256 public key, base64url")
    auth: str = Field("", max_length=100, description="the browser's auth secret, base64url")


class PushSubscriptionIn(BaseModel):
    """What `PushSubscription.toJSON()` gives (expirationTime is ignored)."""

    endpoint: str = Field("", max_length=2048)
    keys: PushKeys = PushKeys()


class EndpointIn(BaseModel):
    endpoint: str = Field("", max_length=2048)


class PushStatus(BaseModel):
    public_key: str = Field(description="the VAPID key to pass as applicationServerKey to pushManager.subscribe")
    subscriptions: int = Field(description="how many of the technician's phones take offers by push")


@router.get(PATH, response_model=PushStatus, responses={401: {}, 403: {}})
def get_push(who: CurrentTechnician) -> PushStatus:
    """The key to subscribe with, and how many phones of the caller's take offers by push."""
    core = get_core()
    return PushStatus(public_key=vapid_public_key(core.settings), subscriptions=push_subscription_count(core, who))


@router.post(PATH, response_model=PushStatus, status_code=201, responses={401: {}, 403: {}, 422: {}})
def post_push(body: PushSubscriptionIn, who: CurrentTechnician, request: Request) -> PushStatus:
    """This phone takes the caller's job offers by push (before a text) until it logs out; again for the same
    phone updates it."""
    core = get_core()
    token = token_from(request)
    assert token is not None  # CurrentTechnician came from it
    n = subscribe_push(core, who, token, body.endpoint, body.keys.p256dh, body.keys.auth)
    return PushStatus(public_key=vapid_public_key(core.settings), subscriptions=n)


@router.delete(PATH, response_model=PushStatus, responses={401: {}, 403: {}})
def delete_push(body: EndpointIn, who: CurrentTechnician) -> PushStatus:
    """This phone stops taking the caller's offers by push (offers come by text)."""
    core = get_core()
    n = unsubscribe_push(core, who, body.endpoint)
    return PushStatus(public_key=vapid_public_key(core.settings), subscriptions=n)
