"""Accounts: users and roles, log-in and bearer tokens, devices, and the guards controllers call.
May import the platform (db, errors, settings, tables) only.
"""
