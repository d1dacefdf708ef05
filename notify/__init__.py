"""Notify: lights over time and alerts (DESIGN §5): `rules` (pure: what is owed, to whom, the texts,
quiet hours), `queries`, `worker` (a pass records what is due, then delivers), `delivery` (apprise or
the outbox), `gateways` (Aliyun and Tencent SMS for apprise), `controllers` (GET /alerts, /outbox).
May import server's contexts.
"""
