"""SMS providers behind one interface (`base.SmsProvider`): `log` for development, `twilio` for real texts."""

from __future__ import annotations

from core.config import Settings
from core.notify.providers.base import OutgoingText, SendFailed, SendResult, SmsProvider
from core.notify.providers.log import LogProvider

__all__ = ["LogProvider", "OutgoingText", "SendFailed", "SendResult", "SmsProvider", "make_provider"]


def make_provider(settings: Settings) -> SmsProvider:
    """The provider NOTIFY_PROVIDER names, built from its settings."""
    if settings.notify_provider == "twilio":
        from core.notify.providers.twilio import TwilioProvider  # the SDK is loaded only where it is used

        token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
        return TwilioProvider(settings.twilio_account_sid, token, settings.twilio_from,
                              base_url=settings.twilio_base_url)
    return LogProvider()
