#!/usr/bin/env bash
# Retake the documentation's screenshots of the Prefect UI from the code as it is: the browser test
# (a real server, `imbalance-flows serve`, headless Chromium) takes them; they are copied here.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python -m pytest -q tests/e2e/test_ui.py
cp tests/e2e/screenshots/run-form.png tests/e2e/screenshots/finished-run.png \
   tests/e2e/screenshots/report-artifact.png tests/e2e/screenshots/run-form-optional.png tests/e2e/screenshots/run-form-member.png \
   tests/e2e/screenshots/drift-artifact.png tests/e2e/screenshots/drift-retrain.png \
   tests/e2e/screenshots/drift-automation.png deployments/screenshots/
