"""The Prefect UI in a real headless Chromium: fill the train deployment's form, run it, see the report."""

import os
import shutil
from pathlib import Path

import pytest

from imbalance_flows.flows.config import TrainConfig
from imbalance_flows.tasks.model.spec import MemberSpec
from tests.e2e.conftest import missing_service, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page():
    if not os.path.exists(CHROMIUM):
        missing_service("Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser.new_page(viewport={"width": 1400, "height": 1000})
        browser.close()


def _field(page, label: str, kind: str):
    """The control (an XPath node test) nearest to a label in Prefect's parameter form."""
    return page.get_by_text(label, exact=True).locator(f"xpath=ancestor::*[.//{kind}][1]//{kind}").first


DROPDOWN = "button[contains(@class, 'p-select-button__control')]"


def test_a_run_started_from_the_ui_form_completes_with_its_report(page, served):
    SCREENSHOTS.mkdir(exist_ok=True)
    ui = served["api"].removesuffix("/api")
    deployment = served["deployments"]["train"]

    page.goto(f"{ui}/deployments/deployment/{deployment['id']}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run", exact=True).click()
    page.get_by_role("button", name="Submit").wait_for(state="visible", timeout=60_000)

    random_state = _field(page, "Random State (Optional)", "input")
    random_state.fill("7")
    voting = _field(page, "Voting (Optional)", DROPDOWN)
    voting.focus()
    voting.press("ArrowDown")
    page.get_by_role("option", name="soft", exact=True).click()
    recipe = _field(page, "Recipe (Optional)", DROPDOWN)  # a named recipe instead of the member list
    recipe.focus()
    recipe.press("ArrowDown")
    page.get_by_role("option", name="plain-over-under", exact=True).click()
    page.screenshot(path=SCREENSHOTS / "run-form.png", full_page=True)
    # Optional fields show as their own type, left empty for the default: no type toggle to get past.
    max_concurrency = _field(page, "Max Concurrency (Optional)", "input[@type='number']")
    max_concurrency.scroll_into_view_if_needed()
    assert max_concurrency.is_editable() and max_concurrency.input_value() == ""
    assert _field(page, "Dask Address (Optional)", "textarea").is_editable()
    # Fields that take a number or "auto", an object or nothing, one form of costs or another: one field each.
    ratio = _field(page, "Sampling Strategy (Optional)", "input[@type='number']")
    assert ratio.is_editable() and ratio.input_value() == ""  # empty: auto
    assert _field(page, "Fn (Optional)", "input[@type='number']").is_editable()
    assert _field(page, "Matrix (Optional)", "button").is_visible()
    for toggle in ("is a const and cannot be changed", "Property is type None"):
        assert page.get_by_text(toggle).count() == 0, toggle
    ratio.scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOTS / "run-form-member.png")
    page.screenshot(path=SCREENSHOTS / "run-form-optional.png")
    page.get_by_role("button", name="Submit").click()

    client = served["client"]

    def submitted_run():
        runs = client.post("/flow_runs/filter", json={"deployments": {"id": {"any_": [deployment["id"]]}},
                                                      "sort": "EXPECTED_START_TIME_DESC", "limit": 1}).json()
        return runs[0] if runs and runs[0]["parameters"]["config"].get("random_state") == 7 else None

    try:
        run = wait_for(submitted_run, timeout=60, what="the run submitted from the form")
    except TimeoutError:  # the form refused it: show why
        page.screenshot(path=SCREENSHOTS / "submit-refused.png", full_page=True)
        (SCREENSHOTS / "submit-refused.txt").write_text(page.inner_text("body"))
        raise
    assert run["parameters"]["config"]["voting"] == "soft"  # the dropdowns' choices reached the server
    assert run["parameters"]["config"]["recipe"] == "plain-over-under"
    for sent in run["parameters"]["config"]["members"]:  # the untouched member fields mean what they say
        member = MemberSpec.model_validate(sent)
        assert member.augment is None and member.sampling_strategy == "auto", sent
    assert TrainConfig.model_validate(run["parameters"]["config"]).costs is None

    def finished():
        state = client.get(f"/flow_runs/{run['id']}").json()["state"]
        return state if state["type"] in ("COMPLETED", "FAILED", "CRASHED") else None

    assert wait_for(finished, timeout=300, interval=2, what="the UI run")["type"] == "COMPLETED"

    page.goto(f"{ui}/runs/flow-run/{run['id']}")
    page.get_by_text("Artifacts", exact=True).click()
    page.get_by_text("members-vs-ensemble").first.wait_for(timeout=60_000)
    page.screenshot(path=SCREENSHOTS / "finished-run.png", full_page=True)
    page.get_by_text("members-vs-ensemble").first.click()
    page.get_by_text("Recall per class, test split").wait_for(timeout=60_000)
    page.screenshot(path=SCREENSHOTS / "report-artifact.png", full_page=True)


def test_the_drift_artifact_and_the_retrain_it_started_show_in_the_ui(page, served, churn_small, tmp_path_factory):
    from tests.e2e.conftest import drifted_batches

    found = drifted_batches(served, churn_small, tmp_path_factory)
    ui = served["api"].removesuffix("/api")
    page.goto(f"{ui}/runs/flow-run/{found['predict']['state_details']['flow_run_id']}")
    page.get_by_text("Artifacts", exact=True).click()
    page.get_by_text("drift", exact=True).first.click()
    page.get_by_text("Drift: features drifted: total_day_minutes", exact=False).first.wait_for(timeout=60_000)
    page.screenshot(path=SCREENSHOTS / "drift-artifact.png", full_page=True)
    page.goto(f"{ui}/runs/flow-run/{found['retrain']['id']}")
    page.get_by_text("Artifacts", exact=True).click()
    page.get_by_text("champion-challenger").first.wait_for(timeout=60_000)
    page.screenshot(path=SCREENSHOTS / "drift-retrain.png", full_page=True)
    page.goto(f"{ui}/automations")
    page.get_by_text("retrain on drift").first.wait_for(timeout=60_000)
    page.screenshot(path=SCREENSHOTS / "drift-automation.png", full_page=True)
