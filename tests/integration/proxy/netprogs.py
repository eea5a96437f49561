"""Programs the nftables tests run inside network namespaces: `serve NAME PORT` and `tcp|udp HOST PORT N`."""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import threading
import time


def serve(name: str, port: int) -> None:
    class TCP(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.rfile.readline()
            self.wfile.write(name.encode() + b"\n")

    class UDP(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            sock.sendto(name.encode() + b":" + data, self.client_address)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    tcp = socketserver.ThreadingTCPServer(("0.0.0.0", port), TCP)
    udp = socketserver.ThreadingUDPServer(("0.0.0.0", port), UDP)
    threading.Thread(target=udp.serve_forever, daemon=True).start()
    print("ready", flush=True)
    tcp.serve_forever()


def tcp(host: str, port: int, n: int) -> dict:
    names, errors, times = [], [], []
    for _ in range(n):
        t0 = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                s.sendall(b"NAME\n")
                names.append(s.makefile().readline().strip())
        except OSError as e:
            errors.append(type(e).__name__)
        times.append(time.monotonic() - t0)
    return {"names": names, "errors": errors, "times": times}


def udp(host: str, port: int, n: int) -> dict:
    names, errors = [], []
    for i in range(n):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a new source port: a new flow
            s.settimeout(2)
            s.connect((host, port))
            try:
                s.send(b"q%d" % i)
                names.append(s.recv(100).decode())
            except OSError as e:
                errors.append(type(e).__name__)
    return {"names": names, "errors": errors}


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        fn = tcp if sys.argv[1] == "tcp" else udp
        print(json.dumps(fn(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
