"""Who may call each Reflex event handler: declared once per handler, checked on every call.

Every event handler is a public remote call: any client that opens the app's websocket can send
any event of any state with any arguments, whether or not a page's `load` ever ran for it. So a
staff handler is declared `@guarded(Role...)`: on every call the wrapper re-reads the session
from the cookie the connection carried (the process's session cache, which a logout, password
reset or deactivation evicts at once), checks the role, and only then runs the handler, passing
it the acting principal. The check relies on no state field, so nothing a client or an earlier
event set can widen it. On refusal the handler does not run, the page state is cleared, and the
browser is sent to `/login` (no live session) or told "Your account cannot do this." (wrong role).

Handlers that anyone may call (the request form, tracking, login) are declared `@public`.
`Declared` (a state mixin) refuses at import a handler declared neither way, and
`undeclared_handlers()` checks every state of the app (tests, and the app at start-up).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlparse

import reflex as rx

from core.principal import Principal, Role
from tyrehero_app.session import principal_from_token, token_from_cookie_header

ACCESS_ATTR = "__tyrehero_access__"
CANNOT = "Your account cannot do this."
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Access:
    """Who may call a handler: `roles` None means anyone (a public page)."""

    roles: frozenset[Role] | None

    @property
    def public(self) -> bool:
        return self.roles is None


def access_of(fn: Callable[..., Any]) -> Access | None:
    return getattr(fn, ACCESS_ATTR, None)


def public(fn: F) -> F:
    """Declare a handler callable by anyone (customer pages, login)."""
    setattr(fn, ACCESS_ATTR, Access(None))
    return fn


def guarded(*roles: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare who may call a handler; the handler receives the caller as its first argument, `who`.

    The browser-facing signature has no `who` (a client cannot pass one): it is removed from the
    signature Reflex reads, and a payload naming it is dropped.
    """
    if not roles:
        raise ValueError("guarded() needs at least one role; use @public for handlers anyone may call")
    allowed = frozenset(Role(r) for r in roles)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        if len(params) < 2 or params[1].name != "who":
            raise TypeError(f"{fn.__qualname__}: a guarded handler takes (self, who, ...)")
        if inspect.isasyncgenfunction(fn):

            async def wrapper_gen(self: Any, *args: Any, **kwargs: Any) -> Any:
                kwargs.pop("who", None)
                who = await _admit(self, allowed)
                if isinstance(who, _Refused):
                    if who.event is not None:
                        yield who.event
                    return
                async for event in fn(self, who, *args, **kwargs):
                    yield event

            wrapper: Callable[..., Any] = wrapper_gen
        else:

            async def wrapper_call(self: Any, *args: Any, **kwargs: Any) -> Any:
                kwargs.pop("who", None)
                who = await _admit(self, allowed)
                if isinstance(who, _Refused):
                    return who.event
                result = fn(self, who, *args, **kwargs)
                return await result if inspect.isawaitable(result) else result

            wrapper = wrapper_call
        functools.update_wrapper(wrapper, fn)
        del wrapper.__wrapped__  # Reflex must read the public signature below, not fn's
        wrapper.__signature__ = sig.replace(parameters=[params[0], *params[2:]])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "who"}
        setattr(wrapper, ACCESS_ATTR, Access(allowed))
        return wrapper

    return decorate


@dataclass(frozen=True)
class _Refused:
    event: Any


async def _admit(state: Any, allowed: frozenset[Role]) -> Principal | _Refused:
    """The caller when their live session has an allowed role; else clear the page and refuse."""
    who = await principal_from_token(token_from_cookie_header(state.router.headers.cookie))
    if who is not None and who.role in allowed:
        if getattr(state, "denied", ""):
            state.denied = ""
        return who
    state.reset()
    if who is None:
        return _Refused(rx.redirect(login_url(str(state.router.url))))
    if hasattr(state, "denied"):
        state.denied = CANNOT
    return _Refused(None)


def login_url(current_url: str) -> str:
    path = urlparse(current_url).path.rstrip("/") or "/"
    return f"/login?next={quote(path)}"


class Declared(rx.State, mixin=True):
    """Mixin for every page state: each event handler it defines must say who may call it."""

    @classmethod
    def __init_subclass__(cls, mixin: bool = False, **kwargs: Any) -> None:
        if not mixin:
            missing = [name for name, fn in cls.__dict__.items()
                       if cls._item_is_event_handler(name, fn) and access_of(fn) is None]
            if missing:
                raise TypeError(f"{cls.__name__}: declare who may call {', '.join(missing)} (@guarded(...) or @public)")
        super().__init_subclass__(mixin=mixin, **kwargs)


class StaffPage(Declared, mixin=True):
    """Mixin for staff pages: what the header shows, per page (never shared between pages' states)."""

    user_name: str = ""
    denied: str = ""


# Handlers Reflex gives every state. `setvar` only calls the state's own `set_<name>` handlers
# (auto setters are off), which are declared like any other handler.
FRAMEWORK_HANDLERS = frozenset({"setvar"})
APP_MODULE_PREFIX = "tyrehero_app."


def app_states() -> Iterator[type[rx.State]]:
    """Every state class of the app (Reflex's own internal states excluded)."""
    stack: list[type[rx.State]] = [rx.State]
    while stack:
        cls = stack.pop()
        stack.extend(cls.get_substates())
        if cls.__module__.startswith(APP_MODULE_PREFIX):
            yield cls


def handler_access() -> dict[str, Access | None]:
    """`State.handler` -> its declared access, for every event handler of every app state."""
    out: dict[str, Access | None] = {}
    for cls in app_states():
        for name, handler in cls.event_handlers.items():
            if name in FRAMEWORK_HANDLERS:
                continue
            out[f"{cls.get_full_name()}.{name}"] = access_of(handler.fn)
    return out


def undeclared_handlers() -> list[str]:
    return sorted(name for name, access in handler_access().items() if access is None)
