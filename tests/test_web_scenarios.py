"""The models-and-scenarios pages and the scenario editor without a browser: permissions,
server-side validation shown beside its field, the run form queueing a job, the job's JSON."""

from __future__ import annotations

import re

from tests.web_helpers import add_person, csrf_in, signed_in, web_client

from caretwin.services.jobs import run_next_job
from caretwin.workspace import Workspace


def test_pages_answer_by_role(workspace: Workspace) -> None:
    add_person(workspace, "ada", ["clinician"])
    add_person(workspace, "vic", ["viewer"])
    c = web_client(workspace)
    signed_in(c, "vic")
    page = c.get("/models?model=reference-hospital")
    assert page.status_code == 200 and "Decision support, not a clinical directive" in page.text
    assert "Run against the baseline" not in page.text  # a viewer may not run
    assert c.get("/scenarios/new").status_code == 403  # nor define scenarios
    c = web_client(workspace)
    signed_in(c, "ada")
    assert "Run against the baseline" in c.get("/models").text
    assert c.get("/scenarios/nope").status_code == 404


def test_editor_refuses_beside_the_field_then_saves_and_runs(workspace: Workspace) -> None:
    add_person(workspace, "ada", ["clinician"])
    c = web_client(workspace)
    signed_in(c, "ada")
    form = c.get("/scenarios/new?model=reference-hospital")
    assert form.status_code == 200 and 'name="p:resources.icu_bed.capacity"' in form.text
    fields = {
        "csrf_token": csrf_in(form.text),
        "model": "reference-hospital",
        "name": "icu_plus4",
        "p:resources.icu_bed.capacity": "-4",
    }
    for path, value in re.findall(r'name="p:([^"]+)"[^>]* value="([^"]*)"', form.text):
        fields.setdefault(f"p:{path}", value)
    bad = c.post("/scenarios/new", data=fields)
    assert bad.status_code == 422
    assert 'id="f-resources-icu_bed-capacity-err"' in bad.text
    assert "greater than or equal to 0" in bad.text
    fields["p:resources.icu_bed.capacity"] = "x"
    assert "enter a whole number" in c.post("/scenarios/new", data=fields).text
    # one routing share alone breaks the sum: named on both shares of that step
    fields["p:resources.icu_bed.capacity"] = "16"
    fields["p:pathways.ed.steps.treatment.next.0.p"] = "0.5"
    shares = c.post("/scenarios/new", data=fields).text
    assert shares.count('class="field-error"') == 2
    fields["p:pathways.ed.steps.treatment.next.0.p"] = "0.35"
    fields["p:resources.icu_bed.capacity"] = "20"
    ok = c.post("/scenarios/new", data=fields)
    assert ok.status_code == 303 and ok.headers["location"] == "/scenarios/icu_plus4?saved=1"
    shown = c.get("/scenarios/icu_plus4?saved=1").text
    assert "Saved as version 1" in shown and "20 beds" in shown
    run = c.post(
        "/models/run",
        data={"csrf_token": fields["csrf_token"], "model": "reference-hospital",
              "saved": "icu_plus4@v1", "replications": "2", "run_days": "1", "warmup_days": "0"},
    )  # fmt: skip
    assert run.status_code == 303
    job_url = run.headers["location"]
    assert c.get(job_url + "/status").json()["status"] == "queued"
    assert "Running scenarios" in c.get(job_url).text
    done = run_next_job(workspace)
    assert done is not None and done.status == "done"
    status = c.get(job_url + "/status").json()
    assert status["next"] == f"/runs/{done.run_id}/comparison"
    assert c.get(job_url).headers["location"] == status["next"]
    cmp = c.get(status["next"])
    assert cmp.status_code == 200 and "icu_plus4@v1 vs baseline" in cmp.text
    assert 'src="/static/plotly.min.js"' in cmp.text and "<script>" not in cmp.text
    assert c.get("/static/scenarios.js").status_code == 200
