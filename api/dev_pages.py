"""The developers' pages in a browser: GraphiQL (GET /graphql) and Swagger UI (/docs).

Strawberry's and FastAPI's own pages load React, GraphiQL and Swagger UI from public
CDNs (unpkg, jsdelivr), which government networks (政务外网) block: the pages stay
blank. These load the same builds from this server instead — vendored from npm in
`api/console/static/vendor/` (licences there) and served by the console's static
files at `/vendor/...`, as ECharts is — so nothing is fetched from outside at run
time. Each page carries a Content-Security-Policy that allows this origin only (and
the hash of FastAPI's one inline script), so a build that reached out would be
refused by the browser rather than silently leak a request.

ReDoc (FastAPI's `/redoc`) is not offered: a second 1 MB bundle for the same
OpenAPI document `/docs` already shows.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse

GRAPHIQL_TEMPLATE = Path(__file__).parent / "graphql" / "graphiql.html"
DOCS_PATH = "/docs"
VENDOR = "/vendor"  # where the console's static files serve the vendored builds
# Swagger UI sends the document's URL to validator.swagger.io for a badge unless told not to.
SWAGGER_UI_PARAMETERS: dict[str, object] = {"validatorUrl": None}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def content_security_policy(html: str) -> str:
    """A policy allowing this origin only, plus the page's own inline scripts by hash.
    GraphiQL and Swagger UI set element styles and inline their fonts and icons as
    data: URLs, hence 'unsafe-inline' for styles and data: for images and fonts."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self'{hashes}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": content_security_policy(html),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def _root(request: Request) -> str:
    """The path the app is mounted under (behind a proxy's prefix), '' at the root."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def graphiql_page(request: Request) -> HTMLResponse:
    """GraphiQL, as strawberry's page, loading only files of this server."""
    html = GRAPHIQL_TEMPLATE.read_text(encoding="utf-8").replace("{{root}}", _root(request))
    return _page(html)


def swagger_ui_page(request: Request, app: FastAPI) -> HTMLResponse:
    """FastAPI's Swagger UI page with the vendored build."""
    root = _root(request)
    html = get_swagger_ui_html(
        openapi_url=root + (app.openapi_url or "/openapi.json"),
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{root}{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{root}{VENDOR}/swagger-ui/favicon-32x32.png",
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    return _page(bytes(html.body).decode("utf-8"))


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs (create the app with `docs_url=None, redoc_url=None`)."""

    async def docs(request: Request) -> HTMLResponse:
        return swagger_ui_page(request, app)

    app.add_route(DOCS_PATH, docs, include_in_schema=False)
