"""Amazon SES (v2 API), raw MIME content, with the error classification the failover relies on."""

from __future__ import annotations

import math
import random
import time
from functools import cache

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from mailrelay import aws, timebox
from mailrelay.providers.base import Deadline, Failure, Outgoing, ProviderError

# No hidden retries (botocore would otherwise retry throttling and 5xx up to 3 times, unbounded by our budget):
# the one retry we allow is ours, and only when the deadline has room for it. Each attempt's read timeout is also cut
# to what the deadline has left, so no attempt outlives the invocation.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
MIN_READ_TIMEOUT = 1.0  # below this an attempt is not worth starting
CLIENT_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT, retries={"total_max_attempts": 1, "mode": "standard"}
)
# Identity lookups (channel PUT, validation, doctor): short, one attempt, and only when the invocation has time.
LOOKUP_CONFIG = Config(connect_timeout=1.0, read_timeout=2.0, retries={"total_max_attempts": 1, "mode": "standard"})

THROTTLING = {"TooManyRequestsException", "Throttling", "ThrottlingException"}
# Our account's or SES's trouble, not the message's: another provider may well succeed.
ACCOUNT_SIDE = {
    "LimitExceededException",  # daily sending quota
    "SendingPausedException",
    "AccountSuspendedException",
    "AccessDeniedException",
    "AccessDenied",
    "NotFoundException",  # e.g. a configuration set that does not exist
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredTokenException",
    "InternalFailure",
    "InternalServiceError",
    "ServiceUnavailable",
}
# Our set-up for one channel, not SES's health: "Email address is not verified. The following identities failed the
# check in region ...: <sender or, in the sandbox, a recipient>", a MAIL FROM domain not verified, no authority to send
# as an identity. Another provider may send it; SES's circuit stays closed (three such sends must not push every
# channel to Mailgun).
CHANNEL_SIDE = {"MailFromDomainNotVerifiedException"}
_REJECTED_FOR_THE_CHANNEL = ("not verified", "sandbox", "did not have authority", "not authorized to send")


def classify(error: ClientError) -> ProviderError:
    details = error.response.get("Error", {})
    code = details.get("Code", "")
    reason = f"{code}: {details.get('Message', '')}".strip(": ")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in THROTTLING or code in ACCOUNT_SIDE or status >= 500 or status in (401, 403):  # 401/403: our credentials
        return ProviderError(Failure.PROVIDER, reason)
    if code in CHANNEL_SIDE:
        return ProviderError(Failure.CHANNEL, reason)
    if code == "MessageRejected":
        lowered = reason.lower()
        for_the_channel = any(s in lowered for s in _REJECTED_FOR_THE_CHANNEL)
        return ProviderError(Failure.CHANNEL if for_the_channel else Failure.MESSAGE, reason)
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
            return self._send_once(message, deadline)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in THROTTLING or deadline.remaining() < self._attempt_max() + 0.5:
                raise classify(exc) from exc
        time.sleep(random.uniform(0.1, 0.4))  # noqa: S311 (jitter, not security)
        try:
            return self._send_once(message, deadline)
        except ClientError as exc:
            raise classify(exc) from exc

    def _client(self, deadline: Deadline):
        """A client whose read timeout fits what is left (whole seconds, so a few cached clients serve every case)."""
        connect = float(self._config.connect_timeout)
        read = min(float(self._config.read_timeout), math.floor(deadline.remaining() - connect))
        if read < min(MIN_READ_TIMEOUT, float(self._config.read_timeout)):
            raise ProviderError(Failure.PROVIDER, "no time left to try SES")
        config = self._config if read == self._config.read_timeout else _shorter(self._config, int(read))
        return aws.client("sesv2", config)

    def _send_once(self, message: Outgoing, deadline: Deadline) -> str:
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
            client = self._client(deadline)
            response = client.send_email(**kwargs)
        except ReadTimeoutError as exc:  # the request went out; SES may have sent it
            waited = client.meta.config.read_timeout
            raise ProviderError(Failure.UNKNOWN, f"no answer from SES within {waited:g} s") from exc
        except (ConnectTimeoutError, EndpointConnectionError) as exc:
            raise ProviderError(Failure.PROVIDER, f"cannot reach SES: {exc}") from exc
        except BotoCoreError as exc:  # credentials missing, other client-side trouble: nothing was sent
            raise ProviderError(Failure.PROVIDER, f"{type(exc).__name__}: {exc}") from exc
        return response["MessageId"]

    def _attempt_max(self) -> float:
        return float(self._config.connect_timeout) + float(self._config.read_timeout)


@cache
def _shorter(config: Config, read_timeout: int) -> Config:
    return config.merge(Config(read_timeout=read_timeout))


def identity(address: str) -> dict[str, str | None] | None:
    """The SES identity that covers `address` (the address itself, else its domain): {"identity", "status" (SUCCESS,
    PENDING, FAILED, ... or NOT_FOUND), "dkim"}; None when SES could not be asked (error, or no time left)."""
    if timebox.left() < LOOKUP_CONFIG.connect_timeout + LOOKUP_CONFIG.read_timeout:
        return None
    client = aws.client("sesv2", LOOKUP_CONFIG)
    candidates = (address, address.rpartition("@")[2])
    for name in candidates:
        try:
            response = client.get_email_identity(EmailIdentity=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NotFoundException":
                continue
            return None
        except BotoCoreError:
            return None
        status = response.get("VerificationStatus") or (
            "SUCCESS" if response.get("VerifiedForSendingStatus") else "PENDING"
        )
        return {"identity": name, "status": status, "dkim": (response.get("DkimAttributes") or {}).get("Status")}
    return {"identity": candidates[-1], "status": "NOT_FOUND", "dkim": None}


def identity_status(address: str) -> str | None:
    """SES's verification status for the address or its domain; NOT_FOUND; None when SES could not be asked."""
    found = identity(address)
    return found["status"] if found else None
