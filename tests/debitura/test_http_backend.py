"""httpx's connection pool (httpcore) asks `sniffio` which event loop runs, at every request.

Without sniffio installed, each of those checks retried the failing `import sniffio`: a search of the
whole module path, several times per Debitura request, on the event loop (bench/RESULTS.md, "Event
loop"). sniffio is a dependency of Caseroom for that reason.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import httpx


class ImportRecorder:
    """A meta path finder that finds nothing and records what was looked for."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        self.names.append(name)
        return None


async def test_a_request_searches_for_no_module() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/warm-up")).json() == {}  # first use may import lazily
            recorder = ImportRecorder()
            sys.meta_path.insert(0, recorder)
            try:
                for _ in range(3):
                    assert (await http.get("/me")).status_code == 200
            finally:
                sys.meta_path.remove(recorder)
    finally:
        server.close()
        await server.wait_closed()
    assert recorder.names == []
