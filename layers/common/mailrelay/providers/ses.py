"""Amazon SES (v2 API), raw MIME content, with the error classification the failover relies on."""

from __future__ import annotations

import random
import time

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from mailrelay import aws
from mailrelay.providers.base import Deadline, Failure, Outgoing, ProviderError

# No hidden retries (botocore would otherwise retry throttling and 5xx up to 3 times, unbounded by our budget):
# the one retry we allow is ours, and only when the deadline has room for it.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
CLIENT_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT, retries={"total_max_attempts": 1, "mode": "standard"}
)

THROTTLING = {"TooManyRequestsException", "Throttling", "ThrottlingException"}
# Our account's or SES's trouble, not the message's: another provider may well succeed.
ACCOUNT_SIDE = {
    "LimitExceededException",  # daily sending quota
    "SendingPausedException",
    "AccountSuspendedException",
    "AccessDeniedException",
    "AccessDenied",
    "MailFromDomainNotVerifiedException",
    "NotFoundException",  # e.g. a configuration set that does not exist
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredTokenException",
    "InternalFailure",
    "InternalServiceError",
    "ServiceUnavailable",
}
# MessageRejected also covers an unverified sender or, in the sandbox, an unverified recipient.
_REJECTED_BUT_ACCOUNT_SIDE = ("not verified", "sandbox", "did not have authority")


def classify(error: ClientError) -> ProviderError:
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    reason = f"{code}: {details.get('Message', '')}".strip(": ")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in THROTTLING or code in ACCOUNT_SIDE or status >= 500:
        return ProviderError(Failure.PROVIDER, reason)
    if code == "MessageRejected":
        lowered = reason.lower()
        account_side = any(s in lowered for s in _REJECTED_BUT_ACCOUNT_SIDE)
        return ProviderError(Failure.PROVIDER if account_side else Failure.MESSAGE, reason)
    # BadRequestException, InvalidParameterValue, ...: the request (our message) is at fault.
    return ProviderError(Failure.MESSAGE, reason)


class SesProvider:
    name = "ses"

    def __init__(self, config: Config = CLIENT_CONFIG, configuration_set: str = ""):
        self._config = config  # module-level default: one cached client per container
        self._configuration_set = configuration_set  # publishes bounces and complaints to the stack's topic

    def configured(self) -> bool:
        return True  # the function's IAM role is the configuration

    def send(self, message: Outgoing, deadline: Deadline) -> str:
        try:
            return self._send_once(message)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in THROTTLING or deadline.remaining() < self._attempt_max() + 0.5:
                raise classify(exc) from exc
        time.sleep(random.uniform(0.1, 0.4))  # noqa: S311 (jitter, not security)
        try:
            return self._send_once(message)
        except ClientError as exc:
            raise classify(exc) from exc

    def _send_once(self, message: Outgoing) -> str:
        destination = {"ToAddresses": message.to, "CcAddresses": message.cc, "BccAddresses": message.bcc}
        kwargs = {
            "FromEmailAddress": message.sender,
            "Destination": {k: v for k, v in destination.items() if v},
            "Content": {"Raw": {"Data": message.raw}},
        }
        tags = dict(message.tags)
        if message.message_id:
            tags["mailrelay_id"] = message.message_id  # comes back in bounce / complaint events
        if tags:
            kwargs["EmailTags"] = [{"Name": k, "Value": v} for k, v in tags.items()]
        if self._configuration_set:
            kwargs["ConfigurationSetName"] = self._configuration_set
        try:
            response = aws.client("sesv2", self._config).send_email(**kwargs)
        except ReadTimeoutError as exc:  # the request went out; SES may have sent it
            raise ProviderError(Failure.UNKNOWN, f"no answer from SES within {self._config.read_timeout:g} s") from exc
        except (ConnectTimeoutError, EndpointConnectionError) as exc:
            raise ProviderError(Failure.PROVIDER, f"cannot reach SES: {exc}") from exc
        except BotoCoreError as exc:  # credentials missing, other client-side trouble: nothing was sent
            raise ProviderError(Failure.PROVIDER, f"{type(exc).__name__}: {exc}") from exc
        return response["MessageId"]

    def _attempt_max(self) -> float:
        return float(self._config.connect_timeout) + float(self._config.read_timeout)
