"""The scale-out run's TCP balancer: round-robin per socket kind, the chosen
backend named in the response head, bytes relayed untouched both ways."""

import asyncio

from benchmarks.loadgen.balancer import Balancer


async def _backend(number: int) -> asyncio.Server:
    """Answers the head with its number, then echoes whatever follows."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
        writer.write(f"backend {number}\n".encode())
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _connect(port: int, path: str) -> tuple[dict[str, str], str, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
    greeting = (await reader.readline()).decode().strip()
    writer.write(b"\x81\x05hello")
    echoed = await reader.readexactly(7)
    writer.close()
    return headers, greeting, echoed


async def test_balancer_spreads_each_kind_over_the_backends_and_names_the_one_chosen():
    backends = [await _backend(0), await _backend(1)]
    ports = [server.sockets[0].getsockname()[1] for server in backends]
    balancer = Balancer(ports)
    front = await asyncio.start_server(balancer.handle, "127.0.0.1", 0)
    port = front.sockets[0].getsockname()[1]
    try:
        visitors = [await _connect(port, "/ws/visitor/?site=k") for _ in range(4)]
        agents = [await _connect(port, "/ws/agent/") for _ in range(2)]
    finally:
        front.close()
        for server in backends:
            server.close()

    assert [h["X-Bench-Backend"] for h, _, _ in visitors] == ["0", "1", "0", "1"]
    # Agents have their own turn: the first console still goes to backend 0.
    assert [h["X-Bench-Backend"] for h, _, _ in agents] == ["0", "1"]
    for headers, greeting, echoed in visitors + agents:
        assert headers["Upgrade"] == "websocket"
        assert greeting == f"backend {headers['X-Bench-Backend']}"
        assert echoed == b"\x81\x05hello"
    assert balancer.stats()["placed"] == {
        "0": {"/ws/visitor": 2, "/ws/agent": 1},
        "1": {"/ws/visitor": 2, "/ws/agent": 1},
    }
