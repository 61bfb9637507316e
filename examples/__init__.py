"""Example applications for consentkit: the seed demo site, a FastAPI app, a bare ASGI app."""
