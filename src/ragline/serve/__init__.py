"""ragline's HTTP server: a multi-tenant FastAPI app over the same ``Engine`` (README "HTTP server").

    from ragline.serve import ServeSettings, create_app
    app = create_app(ServeSettings(store="local:./data", embedder="hashing:384", auth=False))
"""

from ragline.serve.app import app_from_env, create_app
from ragline.serve.settings import ServeSettings

__all__ = ["ServeSettings", "app_from_env", "create_app"]
