"""A tiny authoritative DNS server on a loopback UDP port (dnspython), so MX checks never need the internet."""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class LocalDns:
    def __init__(self, records: dict[tuple[str, str], list[str]]):
        self.records = {(name.rstrip(".").lower() + ".", rtype): values for (name, rtype), values in records.items()}
        self.names = {name for name, _ in self.records}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1@{self.port}"

    def start(self) -> LocalDns:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            for question in query.question:
                name, rtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
                values = self.records.get((name, rtype))
                if values:
                    response.answer.append(dns.rrset.from_text(name, 300, "IN", rtype, *values))
                elif name not in self.names:
                    response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)
