"""Serving a task bank over HTTP: dynamic batching across tasks (``batcher``), the FastAPI
application with its web UI (``app``, ``page``). Imports no ``espnet2``."""
