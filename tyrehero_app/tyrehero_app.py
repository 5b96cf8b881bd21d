"""Builds the app and adds the pages."""

import reflex as rx

from tyrehero_app import lifespan, routes
from tyrehero_app.api.app import create_api
from tyrehero_app.components import connection
from tyrehero_app.guard import undeclared_handlers
from tyrehero_app.pages.account import AccountState, account
from tyrehero_app.pages.admin import AdminState, admin_page
from tyrehero_app.pages.dispatch import DispatchState, dispatch
from tyrehero_app.pages.login import LoginState, login
from tyrehero_app.pages.rate import RateState, rating_page
from tyrehero_app.pages.request_form import request_form
from tyrehero_app.pages.tech import TechState, tech
from tyrehero_app.pages.track import TrackState, tracking

app = rx.App(
    api_transformer=create_api(),
    head_components=[rx.el.meta(name="theme-color", content="#f5a524")],
    stylesheets=["/styles.css"],
)
connection.install(app)  # a calm "No signal" notice instead of Reflex's websocket-error toast
app.add_page(request_form, route=routes.HOME, title="TyreHero — 24/7 emergency mobile tyre fitting")
app.add_page(tracking, route="/track/[token]", title="TyreHero — your request", on_load=TrackState.load)
app.add_page(rating_page, route="/rate/[token]", title="TyreHero — rate your visit", on_load=RateState.load)
app.add_page(login, route="/login", title="TyreHero — staff login", on_load=LoginState.load)
app.add_page(dispatch, route="/dispatch", title="TyreHero — dispatch", on_load=DispatchState.load)
app.add_page(admin_page, route="/admin", title="TyreHero — admin", on_load=AdminState.load)
app.add_page(account, route="/account", title="TyreHero — your account", on_load=AccountState.load)
app.add_page(tech, route="/tech", title="TyreHero — technician", on_load=TechState.load)
# Every event handler is a public remote call: refuse to start with one whose callers are undeclared.
if undeclared := undeclared_handlers():
    raise RuntimeError(f"event handlers without @guarded(...) or @public: {', '.join(undeclared)}")
app.register_lifespan_task(lifespan.tune_process)
app.register_lifespan_task(lifespan.dispatch_sweeper)
app.register_lifespan_task(lifespan.maintenance)
app.register_lifespan_task(lifespan.notify_relay)
app.register_lifespan_task(lifespan.session_refresher)
app.register_lifespan_task(lifespan.demo_fleet)
app.register_lifespan_task(lifespan.alert_webhook)
