"""A one-app Django site served under ASGI behind ConsentMiddleware."""
