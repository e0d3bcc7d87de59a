"""The service shell: config, ASGI app, envelope, router, shared state, API client, CLI."""
