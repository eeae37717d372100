"""The parts a dedicated instance stands on, for the browser tests: a name
server that answers every name under dedicated.e2e.test with 127.0.0.1, a
TLS server whose certificate (from a certificate authority made here) is
valid for those names, and a health endpoint answering 200.

Usage: dedicated.py DIR. Writes DIR/ca.pem and DIR/ports.env (DNS_PORT,
TLS_PORT, HEALTH_PORT), then serves until killed.
"""

import http.server
import os
import socket
import ssl
import subprocess
import sys
import threading

from dnslib import QTYPE, RR, A, DNSRecord, RCODE

ZONE = "dedicated.e2e.test"


def certificates(d):
    def run(*args):
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem", "-days", "30", "-subj", "/CN=Bulkhead e2e authority",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr", "-subj", f"/CN=*.{ZONE}")
    with open(f"{d}/server.ext", "w") as f:
        f.write(f"subjectAltName=DNS:*.{ZONE}\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
        "-CAcreateserial", "-out", f"{d}/server.pem", "-days", "30", "-extfile", f"{d}/server.ext")


def dns(sock):
    while True:
        data, peer = sock.recvfrom(1500)
        try:
            query = DNSRecord.parse(data)
        except Exception:
            continue
        reply = query.reply()
        name = str(query.q.qname).rstrip(".").lower()
        if name == ZONE or name.endswith("." + ZONE):
            if query.q.qtype == QTYPE.A:
                reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A("127.0.0.1"), ttl=60))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        sock.sendto(reply.pack(), peer)


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    certificates(d)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    health = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{d}/server.pem", f"{d}/server.key")
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    with open(f"{d}/ports.env.tmp", "w") as f:
        f.write(f"DNS_PORT={udp.getsockname()[1]}\nTLS_PORT={tls.server_address[1]}\n"
                f"HEALTH_PORT={health.server_address[1]}\n")
    os.rename(f"{d}/ports.env.tmp", f"{d}/ports.env")
    threading.Thread(target=dns, args=(udp,), daemon=True).start()
    threading.Thread(target=tls.serve_forever, daemon=True).start()
    health.serve_forever()


if __name__ == "__main__":
    main()
