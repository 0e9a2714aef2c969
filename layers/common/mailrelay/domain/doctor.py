"""`GET /v1/doctor`: can this deployment really send? One line per check - ok, warn or fail - with what to do.

Every lookup is short and bounded by the time the invocation has left; a check that cannot be made says so (warn)
rather than guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError

from mailrelay import aws, timebox
from mailrelay.config import settings
from mailrelay.domain import channels
from mailrelay.models.doctor import Check, DoctorReport
from mailrelay.providers import ses
from mailrelay.providers.mailgun import check_domain
from mailrelay.secret import relay_secret


def run() -> DoctorReport:
    account, why = _ask(lambda: aws.client("sesv2", ses.LOOKUP_CONFIG).get_account())
    checks = [
        *_account_checks(account, why),
        *_sender_checks(account),
        _events_check(),
        *_mailgun_checks(),
        _alarms(),
    ]
    return DoctorReport(ok=all(c.status != "fail" for c in checks), checks=checks)


def _ask(call: Callable[[], Any]) -> tuple[Any, str | None]:
    """(answer, None), or (None, why it could not be asked)."""
    if timebox.left() < 3:
        return None, "no time left in this request"
    try:
        return call(), None
    except ClientError as exc:
        return None, f"{exc.response['Error'].get('Code')}: {exc.response['Error'].get('Message', '')}"
    except Exception as exc:  # noqa: BLE001 (a diagnosis reports every failure, never fails itself)
        return None, type(exc).__name__


def _account_checks(account: dict[str, Any] | None, why: str | None) -> list[Check]:
    if account is None:
        return [Check(name="ses_account", status="fail", detail=f"SES GetAccount failed ({why})")]
    quota = account.get("SendQuota") or {}
    detail = (
        f"{quota.get('Max24HourSend', 0):g} messages per 24 h, {quota.get('MaxSendRate', 0):g} per second, "
        f"{quota.get('SentLast24Hours', 0):g} sent in the last 24 h"
    )
    checks = []
    if not account.get("SendingEnabled", True):
        checks.append(
            Check(
                name="ses_sending",
                status="fail",
                detail="sending is paused for this account",
                fix="resume sending (aws sesv2 put-account-sending-attributes --sending-enabled) or ask AWS why",
            )
        )
    if account.get("ProductionAccessEnabled"):
        checks.append(Check(name="ses_account", status="ok", detail=f"production access; {detail}"))
    else:
        checks.append(
            Check(
                name="ses_account",
                status="warn",
                detail=f"SES sandbox: mail goes only to verified addresses; {detail}",
                fix="request production access (README: Deploy, step 3)",
            )
        )
    return checks


def _sender_checks(account: dict[str, Any] | None) -> list[Check]:
    records = channels.all_records()
    if not records:
        return [Check(name="channels", status="warn", detail="no channel yet", fix="PUT /v1/channels/{name}")]
    sandbox = account is not None and not account.get("ProductionAccessEnabled")
    checks = []
    for sender in sorted({r.sender.email for r in records}):
        found = ses.identity(sender)
        if found is None:
            checks.append(Check(name=f"sender {sender}", status="warn", detail="SES could not be asked"))
        elif found["status"] != "SUCCESS":
            checks.append(
                Check(
                    name=f"sender {sender}",
                    status="fail",
                    detail=f"not verified in SES (identity {found['identity']}: {found['status']})",
                    fix="verify the domain: publish the DKIM records (stack outputs DkimRecord1-3), or verify the "
                    "address (POST /v1/validation/{address})",
                )
            )
        else:
            dkim = found.get("dkim") or "NOT_STARTED"
            status = "ok" if dkim == "SUCCESS" or "@" in found["identity"] else "warn"
            checks.append(
                Check(name=f"sender {sender}", status=status, detail=f"verified as {found['identity']}; DKIM {dkim}")
            )
    if sandbox:
        everyone = {a for r in records for a in _destinations(r)}
        unverified = sorted(a for a in everyone if (ses.identity(a) or {}).get("status") != "SUCCESS")
        if unverified:
            checks.append(
                Check(
                    name="sandbox_recipients",
                    status="fail",
                    detail=f"in the sandbox SES refuses these unverified recipients: {', '.join(unverified[:10])}",
                    fix="verify them (POST /v1/validation/{address}) or leave the sandbox",
                )
            )
    return checks


def _destinations(record: channels.ChannelRecord) -> Iterable[str]:
    return (a.email for a in (*record.recipients, *record.cc, *record.bcc))


def _events_check() -> Check:
    """Configuration set -> event destination -> SNS topic (policy, key) -> a Lambda subscription."""
    config = settings()
    name = "bounce_events"
    if not config.ses_configuration_set or not config.ses_events_topic_arn:
        return Check(name=name, status="fail", detail="no configuration set or events topic configured")
    answer, why = _ask(
        lambda: aws.client("sesv2", ses.LOOKUP_CONFIG).get_configuration_set_event_destinations(
            ConfigurationSetName=config.ses_configuration_set
        )
    )
    if answer is None:
        return Check(name=name, status="warn", detail=f"the configuration set could not be read ({why})")
    wired = [
        d
        for d in answer.get("EventDestinations", [])
        if d.get("Enabled")
        and (d.get("SnsDestination") or {}).get("TopicArn") == config.ses_events_topic_arn
        and {"BOUNCE", "COMPLAINT"} <= {t.upper() for t in d.get("MatchingEventTypes", [])}
    ]
    if not wired:
        return Check(
            name=name,
            status="fail",
            detail=f"configuration set {config.ses_configuration_set} publishes no bounces and complaints to the "
            "events topic",
            fix="redeploy the stack (SesEventDestination)",
        )
    sns = aws.client("sns", ses.LOOKUP_CONFIG)
    attributes, why = _ask(lambda: sns.get_topic_attributes(TopicArn=config.ses_events_topic_arn)["Attributes"])
    if attributes is None:
        return Check(name=name, status="warn", detail=f"the events topic could not be read ({why})")
    key = attributes.get("KmsMasterKeyId") or ""
    if "alias/aws/" in key:
        return Check(
            name=name,
            status="fail",
            detail=f"the events topic is encrypted with the AWS-managed key {key}: SES cannot publish to it",
            fix="use the stack's customer-managed key (redeploy)",
        )
    if "ses.amazonaws.com" not in (attributes.get("Policy") or ""):
        return Check(name=name, status="fail", detail="the events topic policy does not let SES publish")
    subscriptions, why = _ask(
        lambda: sns.list_subscriptions_by_topic(TopicArn=config.ses_events_topic_arn)["Subscriptions"]
    )
    if subscriptions is None:
        return Check(name=name, status="warn", detail=f"the topic's subscriptions could not be read ({why})")
    if not any(s["Protocol"] == "lambda" and s["SubscriptionArn"].startswith("arn:") for s in subscriptions):
        return Check(name=name, status="fail", detail="no function is subscribed to the events topic")
    return Check(
        name=name,
        status="ok",
        detail=f"{config.ses_configuration_set} -> {config.ses_events_topic_arn.rsplit(':', 1)[-1]} -> function",
    )


def _mailgun_checks() -> list[Check]:
    secret = relay_secret()
    if not secret.get("mailgun_api_key") or not secret.get("mailgun_domain"):
        return [
            Check(
                name="mailgun",
                status="warn",
                detail="not configured: there is no fallback when SES fails",
                fix="put mailgun_api_key and mailgun_domain into the secret (README: Deploy)",
            )
        ]
    status, detail = check_domain(secret["mailgun_api_key"], secret["mailgun_domain"], settings().mailgun_base_url)
    checks = [Check(name="mailgun", status=status, detail=detail)]
    if secret.get("mailgun_webhook_signing_key"):
        checks.append(Check(name="mailgun_webhook", status="ok", detail="webhook signing key present"))
    else:
        checks.append(
            Check(
                name="mailgun_webhook",
                status="warn",
                detail="no webhook signing key: Mailgun bounces and complaints are not recorded",
                fix="put mailgun_webhook_signing_key into the secret; point Mailgun's webhooks at /v1/webhooks/mailgun",
            )
        )
    return checks


def _alarms() -> Check:
    if settings().alarm_topic_arn:
        return Check(name="alarms", status="ok", detail=f"alarms notify {settings().alarm_topic_arn}")
    return Check(
        name="alarms",
        status="warn",
        detail="alarms notify nobody",
        fix="deploy with AlarmTopicArn set to an SNS topic you subscribe to",
    )
