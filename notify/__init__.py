"""Notify: lights over time and alerts: the worker, apprise delivery, outbox, templates (not built yet).
May import server's contexts.
"""
