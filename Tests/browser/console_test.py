"""The HMSI console in a real browser (issue 16): the built wirsync-hub and wirsync, two
synced centres with a conflict between one of them and HMSI, a third centre whose last sync
failed, and headless Chromium driven through Selenium, as a ministry user clicks.

Run by scripts/browser-test, which installs what it needs. Usage:
    console_test.py BIN_DIR SCREENSHOT_DIR
It exits non-zero with a message at the first thing that is not as it should be.
"""

import csv
import io
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

BIN, SHOTS = sys.argv[1], sys.argv[2]
HUB, WIRSYNC = os.path.join(BIN, "wirsync-hub"), os.path.join(BIN, "wirsync")
WORK = tempfile.mkdtemp(prefix="wirsync-browser.")
HUB_DB = os.path.join(WORK, "hub.db")
KASSEL, GIESSEN, HMSI = "landkreis-kassel", "giessen", "hmsi"
# A volunteer whose personal data must appear nowhere in the console.
PERSONAL = ["Zuleikha", "Wirsyncowa", "+49 561 7788990011", "zuleikha.wirsyncowa@example.org"]


DRIVER = None


def fail(message):
    print(f"browser test: FAILED: {message}", file=sys.stderr)
    if DRIVER is not None:
        print(f"browser test: the browser is at {DRIVER.current_url}, showing:\n{DRIVER.find_element(By.TAG_NAME, 'body').text}", file=sys.stderr)
    print(f"browser test: the deployment is kept in {WORK}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"✔ {message}")


def run(*args, ok=True, input=None):
    result = subprocess.run(args, capture_output=True, text=True, input=input)
    if ok and result.returncode != 0:
        fail(f"{' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def db(node):
    return os.path.join(WORK, f"{node}.db")


def sql(node, statement):
    """A write or read with the sqlite3 shell, as a centre's own tools do it."""
    return run("sqlite3", db(node), statement).stdout.strip()


def sync(node, ok=True):
    return run(WIRSYNC, "sync", "--db", db(node), ok=ok)


def start_hub():
    hub = subprocess.Popen(
        [HUB, "serve", "--db", HUB_DB, "--port", "0", "--console-port", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=open(os.path.join(WORK, "hub.log"), "w"), text=True)
    sync_url = console_url = None
    deadline = time.time() + 30
    while (sync_url is None or console_url is None) and time.time() < deadline:
        line = hub.stdout.readline()
        if not line:
            fail("the hub stopped while starting: " + open(os.path.join(WORK, "hub.log")).read())
        if m := re.search(r"serving .* on (http://[^ ]+)$", line.strip()):
            sync_url = m.group(1)
        if m := re.search(r"console on (http://[^ ]+)$", line.strip()):
            console_url = m.group(1)
    if console_url is None:
        fail("the hub did not announce its console")
    return hub, sync_url, console_url.rstrip("/")


def deploy():
    """Three centres' replicas and HMSI's, synced, with a conflict and a failed sync."""
    run(HUB, "init", "--db", HUB_DB)
    for node in (KASSEL, GIESSEN, HMSI):
        token = run(HUB, "centre", "add", node, "--db", HUB_DB).stdout
        with open(db(node) + ".token", "w") as f:
            f.write(token)
        os.chmod(db(node) + ".token", 0o600)
    hub, sync_url, console = start_hub()
    for node in (KASSEL, GIESSEN, HMSI):
        run(WIRSYNC, "init", "--db", db(node), "--centre", node, "--hub", sync_url)
    run("sqlite3", db(KASSEL), input=run(WIRSYNC, "sample", "--centre", KASSEL, "--rows", "80", "--seed", "3").stdout)
    run("sqlite3", db(GIESSEN), input=run(WIRSYNC, "sample", "--centre", GIESSEN, "--rows", "40", "--seed", "4").stdout)
    sql(KASSEL, f"""INSERT INTO volunteers (id, centre_id, role, given_name, family_name, languages, qualification, phone, email)
        VALUES ('v-browser', '{KASSEL}', 'Laiendolmetschende', '{PERSONAL[0]}', '{PERSONAL[1]}', 'de,ti', 'Basisqualifizierung',
                '{PERSONAL[2]}', '{PERSONAL[3]}');""")
    for node in (KASSEL, GIESSEN, HMSI):
        sync(node)

    # HMSI and Kassel change one project's title; Kassel's later edit wins, HMSI's is on record.
    project = sql(KASSEL, "SELECT id FROM projects ORDER BY id LIMIT 1")
    sql(HMSI, f"UPDATE projects SET title = 'Sprachcafé (Antrag geprüft, HMSI)' WHERE id = '{project}';")
    sync(HMSI)
    time.sleep(0.05)
    sql(KASSEL, f"UPDATE projects SET title = 'Sprachcafé am Bahnhof' WHERE id = '{project}';")
    sync(KASSEL)

    # Gießen's PC clock runs a day ahead: its next sync is refused, and the console says why.
    sql(GIESSEN, "UPDATE organisations SET city = 'Gießen-Nord' WHERE rowid = (SELECT min(rowid) FROM organisations);")
    sql(GIESSEN, "UPDATE sync_log SET wall = wall + 86400000;")
    refused = sync(GIESSEN, ok=False)
    check(refused.returncode != 0 and "clock" in refused.stderr, "Gießen's sync with a clock a day ahead is refused")
    return hub, console, project


def personal_values():
    """Every volunteer's phone, e-mail and full name held by the hub."""
    with sqlite3.connect(HUB_DB) as hub:
        rows = hub.execute("SELECT given_name, family_name, phone, email FROM volunteers").fetchall()
    values = set(PERSONAL)
    for given, family, phone, email in rows:
        values.add(f"{given} {family}")
        values.update(v for v in (phone, email) if v)
    return values


def browser(downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,768", "--lang=de-DE"):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs", {"download.default_directory": downloads, "download.prompt_for_download": False, "intl.accept_languages": "de-DE"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    # The viewport of a 1366×768 office screen, for the layout and the screenshots.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})
    driver.set_page_load_timeout(30)
    driver.implicitly_wait(5)
    return driver


def main():
    hub, console, project = deploy()
    secret = run(HUB, "admin", "add", "m.schneider", "--db", HUB_DB).stdout.strip().rsplit(" ", 1)[-1]
    password = "Vielfalt-und-Teilhabe-2026"
    personal = personal_values()
    downloads = tempfile.mkdtemp(prefix="wirsync-downloads.")
    global DRIVER
    driver = DRIVER = browser(downloads)
    seen = []

    def visit_check(what):
        seen.append(driver.current_url)
        source = driver.page_source
        leaked = [value for value in personal if value in source]
        if leaked:
            fail(f"{what} ({driver.current_url}) shows personal data: {leaked[:3]}")
        if "<script" in source:
            fail(f"{what} carries a script")

    def until(predicate, message):
        """Waits up to 10 s for what a click leads to: a click returns before the next page has loaded."""
        try:
            WebDriverWait(driver, 10).until(lambda _: predicate())
        except TimeoutException:
            fail(message)
        print(f"✔ {message}")

    def fill(field, value):
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)

    try:
        # Set up the account with its one-time secret, then sign in.
        driver.get(console + "/")
        check(driver.current_url.endswith("/console/anmelden"), "without a session the console shows its login page")
        driver.find_element(By.LINK_TEXT, "Zugang einrichten").click()
        fill("name", "m.schneider"); fill("geheimnis", secret); fill("passwort", password); fill("passwort2", password)
        driver.find_element(By.CSS_SELECTOR, "form.formular button").click()
        until(lambda: "Ihr Zugang ist eingerichtet" in driver.page_source, "the setup secret sets the password")
        fill("name", "m.schneider"); fill("passwort", password)
        driver.find_element(By.ID, "passwort").submit()
        until(lambda: driver.current_url.endswith("/console/uebersicht"), "signed in, the overview opens")
        check(driver.find_element(By.CSS_SELECTOR, ".abmelden strong").text == "m.schneider", "the header names who is signed in")
        visit_check("the overview")
        driver.save_screenshot(os.path.join(SHOTS, "uebersicht.png"))

        # The map shows Gießen as failed; one click opens its page, which says why.
        failed = driver.find_elements(By.CSS_SELECTOR, "svg.karte a.ort.fehler")
        check(len(failed) == 1, "one centre on the map is marked as failed")
        check("Gießen" in failed[0].get_attribute("aria-label"), "it is Gießen, labelled for screen readers too")
        today = driver.find_elements(By.CSS_SELECTOR, "svg.karte a.ort.heute")
        check(len(today) == 1, "Landkreis Kassel is marked as synced today")
        failed[0].click()
        until(lambda: driver.current_url.endswith("/console/zentren/giessen"), "a click on the map opens Gießen's page")
        page = driver.find_element(By.TAG_NAME, "main").text
        check("clock_ahead" in page and "letzte Synchronisierung fehlgeschlagen" in page, "Gießen's page shows the failure and its reason")
        visit_check("Gießen's page")

        # The same without a mouse: the first Tab reaches the skip link, further Tabs the map's Gießen, Enter opens it.
        driver.get(console + "/uebersicht")
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
        check(driver.switch_to.active_element.text == "Zum Inhalt springen", "the first Tab reaches the skip link")
        for _ in range(80):
            if "Gießen (Gießen)" in (driver.switch_to.active_element.get_attribute("aria-label") or ""):
                break
            driver.switch_to.active_element.send_keys(Keys.TAB)
        check("fehlgeschlagen" in (driver.switch_to.active_element.get_attribute("aria-label") or ""), "Tab reaches Gießen on the map, labelled as failed")
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        until(lambda: driver.current_url.endswith("/console/zentren/giessen"), "Enter opens Gießen's page")

        # The conflict queue, filtered by centre; the conflict side by side; keep HMSI's value.
        driver.find_element(By.LINK_TEXT, "Konflikte").click()
        until(lambda: driver.current_url.endswith("/console/konflikte"), "the conflict queue opens")
        Select(driver.find_element(By.ID, "zentrum")).select_by_value(KASSEL)
        Select(driver.find_element(By.ID, "tabelle")).select_by_value("projects")
        driver.find_element(By.CSS_SELECTOR, "form.filter button").click()
        until(lambda: "zentrum=landkreis-kassel" in driver.current_url, "the queue is filtered")
        links = driver.find_elements(By.CSS_SELECTOR, "main table a")
        check(len(links) == 1, "the queue filtered by Landkreis Kassel and projects holds the one conflict")
        visit_check("the conflict queue")
        links[0].click()
        until(lambda: re.search(r"/konflikte/\d+$", driver.current_url), "one click opens the conflict")
        winner = driver.find_element(By.CSS_SELECTOR, "section.seite:nth-of-type(1) .wert").text
        loser = driver.find_element(By.CSS_SELECTOR, "section.seite:nth-of-type(2) .wert").text
        check((winner, loser) == ("Sprachcafé am Bahnhof", "Sprachcafé (Antrag geprüft, HMSI)"), "winner and loser side by side")
        check(project in driver.find_element(By.CSS_SELECTOR, "dl.angaben").text, "with the row they belong to")
        visit_check("the conflict")
        driver.save_screenshot(os.path.join(SHOTS, "konflikt.png"))
        driver.find_element(By.XPATH, "//section[h2[@id='verlierer']]//button").click()
        until(lambda: "Entschieden." in driver.page_source, "keeping the losing value is confirmed")

        # Kassel's next sync receives the decision.
        sync(KASSEL)
        check(sql(KASSEL, f"SELECT title FROM projects WHERE id = '{project}'") == "Sprachcafé (Antrag geprüft, HMSI)",
              "Kassel's next sync receives HMSI's title")
        check(sql(KASSEL, "SELECT count(*) FROM sync_conflicts WHERE resolved_at IS NULL") == "0", "and Kassel's mirror of the conflict is settled")

        # A report, its chart, and its CSV, parsed as German Excel reads it.
        driver.find_element(By.LINK_TEXT, "Programmzahlen").click()
        until(lambda: driver.current_url.endswith("/console/berichte"), "the reports open")
        for link in [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "ul.berichte a")]:
            driver.get(link)
            check(driver.find_elements(By.CSS_SELECTOR, "main table"), f"the report {link.rsplit('/', 1)[-1]} shows a table")
            visit_check(f"the report {link}")
        driver.get(console + "/berichte/einsatzstunden")
        check(driver.find_elements(By.CSS_SELECTOR, "figure svg.diagramm rect"), "the hours report has a chart")
        driver.save_screenshot(os.path.join(SHOTS, "bericht.png"))
        driver.find_element(By.PARTIAL_LINK_TEXT, "Als CSV herunterladen").click()
        path = os.path.join(downloads, "wir-einsatzstunden.csv")
        until(lambda: os.path.exists(path), "the CSV downloads")
        raw = open(path, "rb").read()
        check(raw.startswith(b"\xef\xbb\xbf"), "the CSV starts with a UTF-8 byte-order mark")
        text = raw[3:].decode("utf-8")
        leaked = [value for value in personal if value in text]
        check(not leaked, "the CSV holds no personal data")
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
        check(rows[0] == ["Landkreis/Stadt", "Monat", "Einsatzstunden"], "its header, separated by semicolons")
        total = sum(float(row[2].replace(",", ".")) for row in rows[1:])
        with sqlite3.connect(HUB_DB) as hub_db:
            expected = hub_db.execute("SELECT sum(hours) FROM deployments").fetchone()[0]
        check(all(re.fullmatch(r"\d+(,\d+)?", row[2]) for row in rows[1:]), "hours with decimal commas")
        check(abs(total - expected) < 0.01 * len(rows), f"the hours add up to the hub's {expected:.2f}")

        # The audit log shows the decision; logout ends the session.
        driver.find_element(By.LINK_TEXT, "Protokoll").click()
        until(lambda: driver.current_url.endswith("/console/protokoll"), "the audit log opens")
        log = driver.find_element(By.TAG_NAME, "main").text
        check("conflict_resolved" in log and "console:m.schneider" in log, "the audit log records who decided the conflict")
        visit_check("the audit log")
        driver.find_element(By.CSS_SELECTOR, ".abmelden button").click()
        until(lambda: "Sie sind abgemeldet." in driver.page_source, "logout")
        driver.get(console + "/uebersicht")
        check(driver.current_url.endswith("/console/anmelden"), "after logout the overview needs a new login")
        print(f"browser test: passed ({len(seen)} pages checked for personal data; screenshots in {SHOTS})")
    finally:
        driver.quit()
        hub.terminate()
        hub.wait(timeout=30)


if __name__ == "__main__":
    main()
