"""Amazon SES (v2 API), raw MIME content."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from mailrelay import aws
from mailrelay.providers.base import Failure, Outgoing, ProviderError

# Error codes where the message itself is at fault; everything else is the provider's (or our account's) trouble.
_MESSAGE_CODES = {"BadRequestException", "InvalidParameterValue"}


def classify(error: ClientError) -> ProviderError:
    code = error.response.get("Error", {}).get("Code", "")
    reason = f"{code}: {error.response.get('Error', {}).get('Message', '')}".strip(": ")
    if code == "MessageRejected":
        # SES uses MessageRejected both for bad content and for an unverified sender / sandbox recipient;
        # the latter is our account's configuration, which another provider may not share.
        lowered = reason.lower()
        account_side = ("not verified", "sandbox", "did not have authority")
        failure = Failure.PROVIDER if any(s in lowered for s in account_side) else Failure.MESSAGE
        return ProviderError(failure, reason)
    return ProviderError(Failure.MESSAGE if code in _MESSAGE_CODES else Failure.PROVIDER, reason)


class SesProvider:
    name = "ses"

    def send(self, message: Outgoing) -> str:
        destination = {"ToAddresses": message.to, "CcAddresses": message.cc, "BccAddresses": message.bcc}
        kwargs = {
            "FromEmailAddress": message.sender,
            "Destination": {k: v for k, v in destination.items() if v},
            "Content": {"Raw": {"Data": message.raw}},
        }
        if message.tags:
            kwargs["EmailTags"] = [{"Name": k, "Value": v} for k, v in message.tags.items()]
        try:
            response = aws.client("sesv2").send_email(**kwargs)
        except ClientError as exc:
            raise classify(exc) from exc
        except BotoCoreError as exc:  # connection errors, timeouts: SES never answered
            raise ProviderError(Failure.PROVIDER, f"{type(exc).__name__}: {exc}") from exc
        return response["MessageId"]
