"""Every event handler of every page state says who may call it; staff handlers cannot be left open."""

from __future__ import annotations

import inspect

import pytest
import reflex as rx

import tyrehero_app.tyrehero_app  # noqa: F401  (builds the app: every page state is defined)
from core.principal import Role
from tyrehero_app.guard import Declared, StaffPage, app_states, guarded, handler_access, public, undeclared_handlers

# The only states whose handlers anyone may call: the customer's form, tracking and rating, and the login page.
PUBLIC_STATES = {"RequestFormState", "TrackState", "RateState", "LoginState"}


def test_every_handler_of_every_state_is_declared_public_or_guarded() -> None:
    access = handler_access()
    public_n = sum(1 for a in access.values() if a is not None and a.public)
    guarded_n = sum(1 for a in access.values() if a is not None and not a.public)
    print(f"\n{len(access)} handlers: {guarded_n} guarded by role, {public_n} public")
    assert undeclared_handlers() == [], "handlers whose callers are not declared"
    assert guarded_n >= 20, f"only {guarded_n} guarded handlers found: was a page state not imported?"


def test_public_handlers_live_only_on_customer_and_login_states() -> None:
    for cls in app_states():
        for name, handler in cls.event_handlers.items():
            a = getattr(handler.fn, "__tyrehero_access__", None)
            if a is not None and a.public:
                assert cls.__name__ in PUBLIC_STATES, f"{cls.__name__}.{name} is public on a staff page"


def test_staff_states_hold_their_own_identity_fields() -> None:
    staff = [cls for cls in app_states() if issubclass(cls, StaffPage)]
    assert {c.__name__ for c in staff} >= {"AdminState", "DispatchState", "TechState"}
    for cls in staff:
        parent = cls.get_parent_state()
        assert parent is not None, f"{cls.__name__} shares a staff parent"
        assert not issubclass(parent, StaffPage), f"{cls.__name__} shares a staff parent"
        assert "user_name" in cls.base_vars, f"{cls.__name__}'s user_name lives on another state"


def test_no_state_var_names_a_role_or_identity_that_a_check_could_read() -> None:
    suspicious = {"role", "roles", "user_id", "technician_id", "is_admin", "forbidden", "authorised", "authorized"}
    for cls in app_states():
        assert not suspicious & set(cls.base_vars), f"{cls.__name__} holds {suspicious & set(cls.base_vars)}"


def test_guarded_handlers_hide_the_caller_argument_from_the_browser() -> None:
    for cls in app_states():
        for name, handler in cls.event_handlers.items():
            a = getattr(handler.fn, "__tyrehero_access__", None)
            if a is not None and not a.public:
                assert "who" not in inspect.signature(handler.fn).parameters, f"{cls.__name__}.{name}"


def test_a_state_cannot_define_an_undeclared_handler() -> None:
    with pytest.raises(TypeError, match="declare who may call open_door"):

        class LeakyState(Declared, rx.State):  # noqa: F841
            def open_door(self) -> None:
                pass


def test_guarded_needs_a_role_and_a_who_parameter() -> None:
    with pytest.raises(ValueError, match="at least one role"):
        guarded()
    with pytest.raises(TypeError, match=r"takes \(self, who"):

        @guarded(Role.ADMIN)
        def no_who(self, form: dict) -> None:  # type: ignore[no-untyped-def]
            pass


def test_public_only_marks_the_handler() -> None:
    def f(self) -> None:  # type: ignore[no-untyped-def]
        pass

    assert public(f) is f
    assert f.__tyrehero_access__.public  # type: ignore[attr-defined]
