"""Offline sync for handhelds: wire protocol, cursor, conflicts, pull, push, controllers (DESIGN §7).
May import server's contexts and geo; nothing but server.app imports sync.
"""
