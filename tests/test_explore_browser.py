"""`webtext explore` in a real browser: headless Chromium (Debian's chromium and chromium-driver, driven by
Selenium) types "What do you", reads the options, clicks the first, and undoes it.

Runs wherever a Chromium and its driver are found; under CI (the CI environment variable) a missing one is
a failure, since `.ci/run` installs them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from tiny_gpt2 import save_tiny_hf_gpt2

PROMPT = "What do you"


def missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser test: .ci/run installs chromium chromium-driver)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        missing("no chromium and chromedriver on PATH (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
    except ImportError:
        missing("selenium is not installed (the test extra)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1000,900"):
        options.add_argument(argument)
    session = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    yield session
    session.quit()


@pytest.fixture(scope="module")
def explore_url(tmp_path_factory):
    """The URL a real `webtext explore` process prints, serving the tiny GPT-2 on a free port."""
    hf_dir = save_tiny_hf_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), n_positions=64)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webtext.cli",
            "explore",
            "--hf-dir",
            str(hf_dir),
            "--vocab",
            "gpt2",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, f"webtext explore printed {line!r}"
        yield found.group(0)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_page_extends_the_sentence_by_a_clicked_option_and_undoes_it(browser, explore_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(explore_url)
    wait = WebDriverWait(browser, 20)
    wait.until(lambda b: "parameters" in b.find_element(By.ID, "info").text)
    box = browser.find_element(By.ID, "text")
    box.send_keys(PROMPT)

    def scored(b) -> str:  # read in one script: the spans are redrawn as answers come
        return b.execute_script("return document.getElementById('scored').textContent")

    def options_for_prompt(b):
        # The options once the table for the whole prompt came (the last request of the typing).
        listed = b.find_elements(By.CSS_SELECTOR, "#options li")
        return listed if scored(b) == PROMPT and len(listed) == 10 else None

    options = wait.until(options_for_prompt)
    percentages = [float(o.find_element(By.CLASS_NAME, "pct").text.rstrip("%")) for o in options]
    assert percentages == sorted(percentages, reverse=True) and 0 < sum(percentages) <= 100.05
    first = options[0].get_attribute("data-token")
    assert options[0].find_element(By.CLASS_NAME, "tok").text == first.replace(" ", "␣").replace("\n", "↵")
    options[0].click()
    assert box.get_attribute("value") == PROMPT + first
    wait.until(lambda b: scored(b) == PROMPT + first)
    browser.find_element(By.ID, "undo").click()
    assert box.get_attribute("value") == PROMPT
    wait.until(options_for_prompt)
    assert "loss" in browser.find_element(By.ID, "loss").text
    screenshot = tmp_path / "explore.png"
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 0
    print(f"screenshot: {screenshot}")
