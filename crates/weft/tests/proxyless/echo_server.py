"""A plain gRPC server (no xDS) for the proxyless test: `/echo.Echo/Call` answers
`NAME:REQUEST` with the raw request bytes, so a client can tell backends apart.

Usage: echo_server.py NAME. Binds 127.0.0.1 on a free port, prints `PORT N` once serving,
and serves until stdin closes (the test's handle on it), so it never outlives the test.
"""

import sys
from concurrent import futures

import grpc


def main() -> None:
    name = sys.argv[1].encode()

    def call(request: bytes, context) -> bytes:
        return name + b":" + request

    handler = grpc.method_handlers_generic_handler(
        "echo.Echo", {"Call": grpc.unary_unary_rpc_method_handler(call)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"PORT {port}", flush=True)
    sys.stdin.read()
    server.stop(grace=None)


if __name__ == "__main__":
    main()
