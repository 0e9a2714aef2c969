"""`mailrelay doctor` against the local stack: every check reported; red for an unverified sender, for the SES
sandbox's unverified recipients and for a Mailgun fault; green again once the cause is gone."""

import json

import pytest
import requests

from tests.e2e.conftest import Stack
from tests.e2e.test_clients import run


def faults(stack: Stack, **state) -> None:
    assert requests.put(f"{stack.url}/_local/faults", json=state, timeout=30).status_code == 200


def doctor(stack: Stack) -> tuple[int, dict[str, dict]]:
    done = run(stack, "--json", "doctor")
    report = json.loads(done.stdout)
    assert report["ok"] is (done.returncode == 0)
    return done.returncode, {c["name"]: c for c in report["checks"]}


@pytest.fixture
def clean(stack: Stack):
    faults(stack)
    yield
    faults(stack)


def test_doctor_reports_every_check_and_a_healthy_local_stack_can_send(stack: Stack, clean):
    stack.create_channel("doctor-healthy")
    code, checks = doctor(stack)
    assert code == 0, checks
    assert {"ses_account", "bounce_events", "mailgun", "mailgun_webhook", "alarms"} <= set(checks)
    assert checks["ses_account"]["status"] == "ok" and checks["bounce_events"]["status"] == "ok"
    assert checks["sender noreply@example.com"]["status"] in ("ok", "warn")
    assert checks["mailgun"]["status"] == "ok" and "active" in checks["mailgun"]["detail"]
    human = run(stack, "doctor")
    assert human.returncode == 0 and b"bounce_events" in human.stdout and b"can send" in human.stdout


def test_doctor_turns_red_for_an_unverified_sender(stack: Stack, clean):
    requests.put(
        f"{stack.url}/v1/channels/doctor-unverified",
        json={"sender": "noreply@not-verified.example.net", "recipients": ["team@example.com"]},
        headers=stack.admin,
        timeout=30,
    )
    try:
        code, checks = doctor(stack)
        assert code == 1
        failed = checks["sender noreply@not-verified.example.net"]
        assert failed["status"] == "fail" and "NOT_FOUND" in failed["detail"] and failed["fix"]
    finally:
        requests.delete(f"{stack.url}/v1/channels/doctor-unverified", headers=stack.admin, timeout=30)
    assert doctor(stack)[0] == 0


def test_doctor_turns_red_for_a_mailgun_fault(stack: Stack, clean):
    faults(stack, mailgun="down")
    code, checks = doctor(stack)
    assert code == 1 and checks["mailgun"]["status"] == "fail" and "503" in checks["mailgun"]["detail"]


def test_the_ses_sandbox_refuses_unverified_recipients_and_the_doctor_says_so(stack: Stack, clean):
    token = stack.create_channel("doctor-sandbox", recipients=["someone@example.org"])
    faults(stack, ses="sandbox")
    try:
        sent = requests.post(
            f"{stack.url}/v1/messages",
            json={"subject": "sandbox", "text": "x"},
            headers={"X-Descriptor": "doctor-sandbox", "X-Token": token},
            timeout=60,
        ).json()
        assert sent["provider_used"] == "mailgun"  # SES refused the recipient, as the real sandbox does
        assert (
            "The following identities failed the check in region US-EAST-1: someone@example.org"
            in (sent["providers"][0]["error"])
        )
        code, checks = doctor(stack)
        assert checks["ses_account"]["status"] == "warn" and "sandbox" in checks["ses_account"]["detail"]
        assert code == 1 and checks["sandbox_recipients"]["status"] == "fail"
        assert "someone@example.org" in checks["sandbox_recipients"]["detail"]
        assert "team@example.com" not in checks["sandbox_recipients"]["detail"]  # example.com is verified
    finally:
        requests.delete(f"{stack.url}/v1/channels/doctor-sandbox", headers=stack.admin, timeout=30)
