"""The demo contact form in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium):
fill it in, submit, and find the message in the local outbox. .ci/run installs the browser with apt."""

import os
import shutil
import tempfile
import time

import pytest
import requests

from tests.e2e.conftest import Stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


@pytest.fixture
def browser():
    if not HAVE_BROWSER:
        message = f"no Chromium here ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing browser there is a broken set-up, not a skip
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="mailrelay-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_demo_form_in_a_real_browser(stack: Stack, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    requests.delete(f"{stack.url}/_local/outbox", timeout=30)
    browser.get(f"{stack.url}/")
    browser.find_element(By.NAME, "name").send_keys("Grace Browser")
    browser.find_element(By.NAME, "email").send_keys("grace@example.org")
    browser.find_element(By.NAME, "subject").send_keys("From the demo page")
    browser.find_element(By.NAME, "company").send_keys("Navy")
    browser.find_element(By.NAME, "message").send_keys("Sent by a real browser.")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    status = browser.find_element(By.CSS_SELECTOR, "[data-mailrelay-status]")
    WebDriverWait(browser, 30).until(lambda _: status.get_attribute("data-state") in ("sent", "error"))
    assert status.get_attribute("data-state") == "sent", status.text
    assert "sent" in status.text.lower()
    WebDriverWait(browser, 5).until(expected_conditions.text_to_be_present_in_element_value((By.NAME, "email"), ""))

    deadline = time.monotonic() + 10
    while not (messages := stack.outbox()) and time.monotonic() < deadline:
        time.sleep(0.2)
    [mail] = messages
    assert mail["subject"] == "From the demo page" and mail["reply_to"] == "Grace Browser <grace@example.org>"
    assert mail["to"] == ["contact@example.com"] and "company: Navy" in mail["text"]
    assert mail["text"].startswith("Sent by a real browser.")
