"""``GET /docs``: Swagger UI for ``/openapi.json``, every asset served by the service itself.

Production networks are often closed, so the page loads nothing from a CDN: Swagger
UI's files come from the ``swagger-ui-py`` distribution, read once at start-up, and a
Content-Security-Policy tells the browser to load nothing from anywhere else.
Swagger UI's online validator badge, which would call out, is switched off.
"""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path

import falcon

# Only these files of the distribution are served (not its editor, not its source maps).
_VENDOR_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

_INITIALIZER = b"""window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayRequestDuration: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>{title} - API</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/initializer.js"></script>
  </body>
</html>
"""

# Swagger UI sets inline styles and shows inline SVG images; nothing may leave the origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class SwaggerUIError(RuntimeError):
    """Swagger UI's files are not installed (they come with the project's ``api`` extra)."""


class DocsResource:
    """``GET /docs`` (the page) and ``GET /docs/{asset}`` (its scripts, styles and icon)."""

    def __init__(self, title: str) -> None:
        self._page = _PAGE.format(title=html.escape(title)).encode()
        directory = swagger_ui_directory()
        self._assets = {
            name: (content_type, (directory / name).read_bytes())
            for name, content_type in _VENDOR_ASSETS.items()
        }
        self._assets["initializer.js"] = ("text/javascript; charset=utf-8", _INITIALIZER)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        resp.data = self._page

    def on_get_asset(self, req: falcon.Request, resp: falcon.Response, asset: str) -> None:
        found = self._assets.get(asset)
        if found is None:
            raise falcon.HTTPNotFound()
        resp.content_type, resp.data = found
        resp.cache_control = ["public", "max-age=3600"]


def swagger_ui_directory() -> Path:
    """Where ``swagger-ui-py`` keeps Swagger UI's files, found without importing it.

    Importing the package would load its web-framework adapters and Jinja; only its
    static files are needed.
    """
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise SwaggerUIError("swagger-ui-py is not installed; install the project's api extra")
    return Path(next(iter(spec.submodule_search_locations))) / "static"
