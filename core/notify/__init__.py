"""Notifications: the outbox the database fills (migration 0009), the relay that sends it, the providers,
the texts. What other parts use:

- `Relay(core, make_provider(settings), offer_push=...)` and `Relay.run_once()`: the lifespan task;
- `OfferPush`: the hook through which an offer reaches a technician by push before SMS is tried;
- `outbox.record_delivery_report`, `outbox.recent_messages`, `outbox.MessageStatus`;
- `links.rating_url`: the completion text's `/rate/<token>` (the token is core.requests.rating's);
- `arriving.note_position`: "about 5 minutes away", once per job.
"""
