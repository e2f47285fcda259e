"""The server's web UI in a real headless browser (Debian's chromium and its driver): the
tasks are listed, an uploaded clip gets the label offline inference gives with every
candidate's score, a clip recorded from the (fake) microphone gets an answer, and a missing
clip is said on the page."""

from __future__ import annotations

import shutil
import time

import pytest

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")
pytest.importorskip("fastapi", reason="fastapi (the server's dependency) is not installed")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (shutil.which("chromium") and shutil.which("chromedriver")):
    pytest.skip("chromium and chromium-driver (Debian packages) are not installed",
                allow_module_level=True)  # fmt: skip

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from espnet2_speechprompt.api.multitask import MultiTaskSpeechPrompt  # noqa: E402
from test.factories.task_bank import task_bank  # noqa: E402
from test.serving.server import running_server  # noqa: E402
from test.serving.test_server import wav_bytes  # noqa: E402


@pytest.fixture(scope="module")
def served(unit_task_data, tmp_path_factory):
    packages = task_bank(unit_task_data, tmp_path_factory.mktemp("ui"))
    with running_server(list(packages.values())) as server:
        yield server, packages
        assert server.stop() == 0


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"):  # fmt: skip
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def answer_of(browser) -> str:
    WebDriverWait(browser, 60).until(
        lambda b: b.find_element(By.ID, "result").is_displayed()
        or b.find_element(By.ID, "error").text
    )
    assert not browser.find_element(By.ID, "error").text
    return browser.find_element(By.ID, "label").text


def test_upload_record_and_a_missing_clip(served, browser, tmp_path):
    server, packages = served
    browser.get(server.url + "/")
    WebDriverWait(browser, 60).until(
        lambda b: len(Select(b.find_element(By.ID, "task")).options) == len(packages)
    )
    Select(browser.find_element(By.ID, "task")).select_by_value("commands")
    assert "Labels:" in browser.find_element(By.ID, "labels").text
    browser.find_element(By.ID, "predict").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "error").text)
    assert "choose an audio file" in browser.find_element(By.ID, "error").text

    samples, data = wav_bytes(0.8, 16000)
    (tmp_path / "clip.wav").write_bytes(data)
    browser.find_element(By.ID, "audio").send_keys(str(tmp_path / "clip.wav"))
    browser.find_element(By.ID, "predict").click()
    offline = MultiTaskSpeechPrompt.from_pretrained([str(packages["commands"])])
    labels = offline.task("commands").labels.labels
    assert answer_of(browser) == offline("commands", speech=samples, sample_rate=16000)[0]
    rows = browser.find_elements(By.CSS_SELECTOR, "#scores tbody tr")
    assert browser.find_element(By.CSS_SELECTOR, "#scores thead").text == "label log-likelihood"
    assert sorted(row.find_elements(By.TAG_NAME, "td")[0].text for row in rows) == sorted(labels)
    assert browser.find_element(By.ID, "units").text

    browser.find_element(By.ID, "record").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "record").text == "Stop")
    time.sleep(1.0)
    browser.find_element(By.ID, "record").click()
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "player").is_displayed())
    browser.find_element(By.ID, "predict").click()
    assert answer_of(browser) in labels
