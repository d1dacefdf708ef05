"""Photos: the same-angle rule and image checks (pure), stores (local, MinIO), upload slots, the photo API.
May import the platform, accounts, and the case service for who may see a case's photos.
"""
