"""Webhooks: signing, safe targets, the retry schedule, event payloads and the delivery loop."""
