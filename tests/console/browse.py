"""Drives Skyport's web console in headless Chromium (tests/console.rs).

Usage: browse.py ENDPOINT SCREENSHOT_DIR UPLOAD_FILE

Opens the console at ENDPOINT/_skyport/, finds the bucket `console-demo` (seed.py made it with boto3),
opens it, uploads UPLOAD_FILE through the page's file input, checks the object shows up, visits the page of
every service, and watches the live request log show a request made with boto3 while it is open. A
screenshot of each page goes to SCREENSHOT_DIR. Uses Debian's chromium and chromium-driver: nothing is
downloaded.
"""
import os
import shutil
import sys

import boto3
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

endpoint, shots, upload = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(shots, exist_ok=True)

options = webdriver.ChromeOptions()
options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1280,800", "--hide-scrollbars", "--force-device-scale-factor=1"]:
    options.add_argument(arg)
service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
driver = webdriver.Chrome(options=options, service=service)
# The page area (not the window) is 1280x800 in every screenshot.
driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                       {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
wait = WebDriverWait(driver, 20)


def css(selector):
    return wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, selector)))


def page(name):
    """Waits until page `name` has rendered (no error box), then saves its screenshot."""
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-page") == name
               and "Loading…" not in d.find_element(By.ID, "main").text)
    errors = driver.find_elements(By.CSS_SELECTOR, "#main .error")
    assert not errors, f"{name}: {errors[0].text}"


def shot(file):
    driver.save_screenshot(os.path.join(shots, file))
    print(f"screenshot {file}")


def visit(hash_path, name, file, ready=None):
    driver.get(f"{endpoint}/_skyport/#/{hash_path}")
    page(name)
    if ready:
        css(ready)
    shot(file)


try:
    # Overview: the counts arrive one by one.
    driver.get(f"{endpoint}/_skyport/")
    page("overview")
    wait.until(lambda d: all(c.text not in ("…", "") for c in d.find_elements(By.CSS_SELECTOR, ".card .count")))
    shot("overview.png")

    # S3: the bucket boto3 made is listed; open it and upload a file through the page.
    driver.find_element(By.CSS_SELECTOR, "#nav a[data-nav=s3]").click()
    page("s3")
    link = css("a.bucket-link[data-bucket='console-demo']")
    shot("s3-buckets.png")
    link.click()
    css("tr.object[data-key='hello.txt']")
    name = os.path.basename(upload)
    driver.find_element(By.ID, "upload-file").send_keys(upload)
    driver.find_element(By.ID, "upload-button").click()
    css(f"tr.object[data-key='{name}']")
    wait.until(lambda d: "Uploaded" in d.find_element(By.ID, "upload-status").text)
    shot("s3-objects.png")
    print(f"uploaded {name}")

    visit("sqs", "sqs", "sqs-queues.png", "a.queue-link[data-queue='orders']")
    driver.find_element(By.CSS_SELECTOR, "a.queue-link[data-queue='orders']").click()
    page("sqs")
    css("tr.message")
    shot("sqs-queue.png")
    visit("lambda/hello", "lambda", "lambda-function.png")
    visit("dynamodb/users", "dynamodb", "dynamodb-table.png", "tr.item")
    visit("sns", "sns", "sns-topics.png")
    visit("events", "events", "events-rules.png")
    visit("ecr", "ecr", "ecr-repositories.png")
    visit("logs/%2Faws%2Flambda%2Fhello", "logs", "logs-streams.png")
    visit("iam/roles", "iam", "iam-roles.png")

    # The live request log: a request made while it is open shows up, with its bodies.
    driver.get(f"{endpoint}/_skyport/#/requests")
    page("requests")
    wait.until(lambda d: d.find_element(By.ID, "stream-state").text == "live")
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="seen by the request log")
    row = css("tr.request-row[data-operation='SendMessage']")
    row.click()
    wait.until(lambda d: "seen by the request log" in d.find_element(By.ID, "request-detail").text)
    driver.execute_script("document.querySelector('.scroll').scrollLeft = 0; window.scrollTo(0, 0)")
    shot("requests.png")
    print("request log shows SendMessage")
    print("ok")
finally:
    driver.quit()
