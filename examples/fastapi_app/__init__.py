"""The smallest FastAPI site with consentkit."""
