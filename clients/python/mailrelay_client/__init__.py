"""Client, CLI and Django backend for a mailrelay stack."""

from mailrelay_client.client import (
    AddressCheck,
    Attempt,
    Channel,
    ChannelPage,
    Client,
    MailrelayError,
    MessageStatus,
    Nonce,
    Suppression,
    SuppressionPage,
)

__all__ = [
    "AddressCheck",
    "Attempt",
    "Channel",
    "ChannelPage",
    "Client",
    "MailrelayError",
    "MessageStatus",
    "Nonce",
    "Suppression",
    "SuppressionPage",
]
