"""The smallest bare ASGI app with consentkit."""
