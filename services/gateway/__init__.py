"""The HTTP/JSON gateway: one subpackage per area, each with ``routes.py`` (the FastAPI router, one
gRPC call per request) and ``schemas.py`` (response models mapped from the proto messages by
:mod:`services.gateway.proto_models`, and the request bodies); ``app.py`` wires the routers,
middleware and clients together. The modules beside the areas are what every route shares:
``clients.py`` (stubs bound to the caller), ``routing.py`` (dependencies and error responses),
``schemas.py``, ``proto_models.py``, ``proto_json.py``, errors, tracing and the request log.
"""
