"""Django email backend: EMAIL_BACKEND = "mailrelay_client.django.EmailBackend" (or, from Django 6.1,
MAILERS = {"default": {"BACKEND": "mailrelay_client.django.EmailBackend", "OPTIONS": {"url": ..., ...}}}).

Settings: MAILRELAY_URL, MAILRELAY_DESCRIPTOR, MAILRELAY_TOKEN (and optionally MAILRELAY_TIMEOUT); backend options
url / descriptor / token / timeout win over them. Each message is relayed as the MIME Django builds (text, HTML
alternatives, attachments, Reply-To, headers); the channel sets From/To/Cc/Bcc.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

from mailrelay_client.client import Client, MailrelayError


class EmailBackend(BaseEmailBackend):
    def __init__(self, fail_silently: bool = False, *, url=None, descriptor=None, token=None, timeout=None, **kwargs):
        super().__init__(**kwargs)  # alias and the like; fail_silently is ours (Django 6.1 deprecates the base's)
        self.fail_silently = fail_silently
        self.client = Client(
            url or settings.MAILRELAY_URL,
            descriptor=descriptor or settings.MAILRELAY_DESCRIPTOR,
            token=token or settings.MAILRELAY_TOKEN,
            timeout=float(timeout or getattr(settings, "MAILRELAY_TIMEOUT", 30)),
        )

    def send_messages(self, email_messages) -> int:
        sent = 0
        for message in email_messages or []:
            if not message.recipients():  # Django's convention: a message without recipients is not sent
                continue
            try:
                self.client.send_raw(message.message().as_bytes())
            except MailrelayError:
                if not self.fail_silently:
                    raise
                continue
            sent += 1
        return sent
