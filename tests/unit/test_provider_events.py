"""Reading provider events (SES notifications, Mailgun webhook data) and the address checks that need no network."""

from local.provider_events import mailgun_event, ses_notification
from mailrelay.domain import provider_events, validation


def test_ses_permanent_bounce_and_complaint_are_read():
    bounce = provider_events.from_ses(ses_notification("Bounce", ["a@example.com", "b@example.com"], "m-1"))
    assert (bounce.kind, bounce.addresses, bounce.message_id, bounce.source) == (
        "bounce",
        ["a@example.com", "b@example.com"],
        "m-1",
        "ses",
    )
    complaint = provider_events.from_ses(ses_notification("Complaint", ["c@example.com"], None))
    assert (complaint.kind, complaint.addresses, complaint.message_id) == ("complaint", ["c@example.com"], None)


def test_ses_transient_bounce_and_other_events_are_ignored():
    assert provider_events.from_ses(ses_notification("Bounce", ["a@example.com"], bounce_type="Transient")) is None
    assert provider_events.from_ses({"eventType": "Delivery", "mail": {}}) is None


def test_ses_identity_notification_shape_and_header_fallback():
    notification = ses_notification("Bounce", ["a@example.com"], "m-2")
    notification["notificationType"] = notification.pop("eventType")
    notification["mail"]["tags"] = {}  # identity notifications carry headers, not tags
    event = provider_events.from_ses(notification)
    assert event.kind == "bounce" and event.message_id == "m-2"


def test_mailgun_permanent_failure_and_complaint_are_read():
    failed = provider_events.from_mailgun(mailgun_event("failed", "a@example.com", "m-3"))
    assert (failed.kind, failed.addresses, failed.message_id, failed.source) == (
        "bounce",
        ["a@example.com"],
        "m-3",
        "mailgun",
    )
    assert provider_events.from_mailgun(mailgun_event("complained", "b@example.com")).kind == "complaint"
    temporary = {**mailgun_event("failed", "a@example.com"), "severity": "temporary"}
    assert provider_events.from_mailgun(temporary) is None
    assert provider_events.from_mailgun(mailgun_event("delivered", "a@example.com")) is None


def test_role_and_disposable_detection():
    assert validation.is_disposable("mailinator.com")
    assert validation.is_disposable("sub.mailinator.com")
    assert not validation.is_disposable("example.com")
    assert {"postmaster", "info", "admin", "noreply", "no-reply"} <= validation.ROLE_LOCAL_PARTS
