"""Server-sent events for the admin: named events whose data may span lines (HTML fragments)."""

from __future__ import annotations

from aiohttp import web

from .middleware import security_headers


class EventStream:
    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response
        self.closed = False

    async def send(self, event: str, data: str) -> bool:
        """False once the client has gone away."""
        if self.closed:
            return False
        lines = "".join(f"data: {line}\n" for line in data.split("\n"))
        try:
            await self.response.write(f"event: {event}\n{lines}\n".encode())
        except (ConnectionResetError, RuntimeError):
            self.closed = True
            return False
        return True

    async def comment(self, text: str = "keepalive") -> bool:
        if self.closed:
            return False
        try:
            await self.response.write(f": {text}\n\n".encode())
        except (ConnectionResetError, RuntimeError):
            self.closed = True
            return False
        return True

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                await self.response.write_eof()
            except (ConnectionResetError, RuntimeError):
                pass


async def sse_response(request: web.Request) -> EventStream:
    response = web.StreamResponse(status=200, headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    })
    security_headers(request, response)
    await response.prepare(request)
    return EventStream(response)
