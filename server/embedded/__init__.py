"""The private PostgreSQL + PostGIS cluster that `make run` and the tests start when no database is given.
Imports nothing of Gridcase but settings.
"""
