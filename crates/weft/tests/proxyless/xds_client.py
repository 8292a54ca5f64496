"""A stock proxyless gRPC client: grpcio's own xDS resolver, configured only through the
bootstrap file named by GRPC_XDS_BOOTSTRAP (set by the test).

Usage: xds_client.py TARGET COUNT [UNTIL]. Makes COUNT unary calls of `/echo.Echo/Call` on
`xds:///TARGET` with raw bytes (no generated stubs) and prints one line per reply, then
`BACKENDS {"name": calls, ...}`. With UNTIL, calls every 50 ms and stops as soon as backend
UNTIL answered (at most COUNT calls; never reaching it is a failure). Exits non-zero on any
failed call or wrong echo.
"""

import json
import sys
import time

import grpc


def main() -> int:
    target, count = sys.argv[1], int(sys.argv[2])
    until = sys.argv[3] if len(sys.argv) > 3 else None
    counts: dict = {}
    with grpc.insecure_channel(f"xds:///{target}") as channel:
        call = channel.unary_unary("/echo.Echo/Call")
        for i in range(count):
            request = f"hello-{i}".encode()
            # The first call waits while the resolver fetches LDS/RDS/CDS/EDS.
            reply = call(request, timeout=30, wait_for_ready=True)
            backend, _, echoed = reply.partition(b":")
            if echoed != request:
                print(f"bad echo {reply!r} for {request!r}", file=sys.stderr)
                return 1
            print(f"REPLY {reply.decode()}", flush=True)
            counts[backend.decode()] = counts.get(backend.decode(), 0) + 1
            if until is not None:
                if backend.decode() == until:
                    break
                time.sleep(0.05)
    print("BACKENDS " + json.dumps(counts, sort_keys=True), flush=True)
    if until is not None and until not in counts:
        print(f"backend {until} never answered", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
