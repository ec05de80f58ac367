"""Request body size limit, for declared and streamed bodies alike.

A body declaring a `Content-Length` over the limit is refused before it is read. A
streamed one (`Transfer-Encoding: chunked`, no length) is read here, counting, before
the application sees it, and refused the moment it passes the limit: counting inside
the application's own reads would not do, since FastAPI turns any failure of its body
parsing into a plain 400. Both answer 413, BAD_INPUT / REQUEST_TOO_LARGE, on every
route, REST and /graphql.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PROBLEM_JSON, problem


class BodySizeLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}  # routes that take more (a batch of submissions)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", ""), self.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, int(declared), limit)
            return
        chunks: list[bytes] = []
        seen = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before the body's end: nobody to answer
            chunk: bytes = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await self._refuse(send, seen, limit)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # what follows the body: a disconnect
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: int, limit: int) -> None:
        body = problem(
            "BAD_INPUT",
            "REQUEST_TOO_LARGE",
            f"the request body has {size:,} bytes or more; the limit is {limit:,}",
        )
        body["status"] = 413
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),  # the rest of the body is never read
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
