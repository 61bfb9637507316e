"""Framework integration tests: each example driven through its own test client or uvicorn."""
