"""The platform: settings, the one app factory (app.py), errors, the database (db.py), the CLI,
the embedded cluster, tables, migrations; core contexts are subpackages. Only app.py and cli.py import all.
"""
