"""The platform: settings, the one app factory (app.py), errors, the database (db.py), the CLI, the
embedded cluster, tables and migrations; the core contexts are its subpackages. Only app.py and cli.py import every context.
"""
