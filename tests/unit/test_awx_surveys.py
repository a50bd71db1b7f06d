"""The AWX surveys speak AWX's survey format and ask only for variables the roles accept.

Each survey is checked against a JSON schema of AWX's documented survey_spec
(tests/fixtures/awx/survey_spec.schema.json) and against the variables the collection documents:
every role's meta/argument_specs.yml and the `oneport_*` globals of docs/variables.md. A question
must ask for a known variable, in a survey type that produces a value of the variable's type, and
offer only choices the variable allows.
"""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml
from support import awx_objects
from support.paths import REPO

SURVEYS = awx_objects.surveys()

# The Ansible types a survey answer satisfies as it is: AWX passes the text kinds and
# multiplechoice as strings, integer as int, float as float, multiselect as a list of strings.
# Argument spec validation would accept "true" for a bool or "a,b" for a list, but it does not
# hand the converted value to the role, so those are not compatible.
COMPATIBLE = {
    "text": {"str", "path", "raw"},
    "textarea": {"str", "raw"},
    "password": {"str", "raw"},
    "integer": {"int", "raw"},
    "float": {"float", "raw"},
    "multiplechoice": {"str", "raw"},
    "multiselect": {"list"},
}


def role_options() -> dict[str, dict]:
    """Every option of every role entry point, by variable name."""
    options = {}
    for spec_file in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        specs = yaml.safe_load(spec_file.read_text()).get("argument_specs", {})
        for entry in specs.values():
            for name, option in (entry.get("options") or {}).items():
                options[name] = {**option, "_source": str(spec_file.relative_to(REPO))}
    return options


def global_options() -> dict[str, dict]:
    """The `oneport_*` globals from the table in docs/variables.md, typed as that table says."""
    options = {}
    for line in (REPO / "docs" / "variables.md").read_text().splitlines():
        match = re.match(r"^\|\s*`(oneport_[a-z_]+)`\s*\|\s*([^|]+)\|", line)
        if not match:
            continue
        name, kind = match.group(1), match.group(2).strip()
        if kind.startswith("list"):
            option = {"type": "list", "elements": "str"}
        elif kind.startswith("path"):
            option = {"type": "path"}
        elif kind.startswith("bool"):
            option = {"type": "bool"}
        else:
            option = {"type": "str"}
        if kind.startswith("str:"):
            option["choices"] = re.findall(r"`([^`]+)`", kind)
        options[name] = {**option, "_source": "docs/variables.md"}
    return options


KNOWN = {**global_options(), **role_options()}
QUESTIONS = [(jt, q) for jt, survey in SURVEYS.items() for q in survey["spec"]]
QUESTION_IDS = [f"{jt}:{q['variable']}" for jt, q in QUESTIONS]


@pytest.fixture(scope="module")
def survey_schema() -> dict:
    return json.loads((REPO / "tests" / "fixtures" / "awx" / "survey_spec.schema.json").read_text())


def test_there_is_a_survey_for_deploy_verify_and_uninstall():
    playbooks = {jt["playbook"] for jt in awx_objects.controller_vars()["oneport_awx_job_templates"]}
    assert playbooks == {"playbooks/site.yml", "playbooks/verify.yml", "playbooks/uninstall.yml"}


@pytest.mark.parametrize("name", sorted(SURVEYS))
def test_survey_follows_the_awx_survey_format(name, survey_schema):
    jsonschema.validate(SURVEYS[name], survey_schema, cls=jsonschema.Draft202012Validator)


def test_schema_refuses_a_question_type_awx_does_not_know(survey_schema):
    bad = {
        "name": "x",
        "description": "",
        "spec": [{"question_name": "q", "variable": "v", "type": "list", "required": False}],
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, survey_schema, cls=jsonschema.Draft202012Validator)


def test_schema_refuses_a_choice_question_without_choices(survey_schema):
    question = {"question_name": "q", "variable": "v", "type": "multiplechoice", "required": False}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"name": "x", "description": "", "spec": [question]},
            survey_schema,
            cls=jsonschema.Draft202012Validator,
        )


@pytest.mark.parametrize("name", sorted(SURVEYS))
def test_survey_asks_for_each_variable_once(name):
    variables = [q["variable"] for q in SURVEYS[name]["spec"]]
    assert len(variables) == len(set(variables))


@pytest.mark.parametrize(("name", "question"), QUESTIONS, ids=QUESTION_IDS)
def test_question_defaults_and_limits_are_consistent(name, question):
    if "default" in question and question["type"] == "multiplechoice":
        assert question["default"] in awx_objects.choices_of(question)
    if question.get("min") is not None and question.get("max") is not None:
        assert question["min"] <= question["max"]


@pytest.mark.parametrize(("name", "question"), QUESTIONS, ids=QUESTION_IDS)
def test_question_asks_for_a_variable_the_roles_accept(name, question):
    assert question["variable"] in KNOWN, (
        f"{question['variable']} is neither in a role's meta/argument_specs.yml nor in docs/variables.md"
    )


@pytest.mark.parametrize(("name", "question"), QUESTIONS, ids=QUESTION_IDS)
def test_question_type_gives_the_variable_its_type(name, question):
    option = KNOWN.get(question["variable"])
    if option is None:
        pytest.fail(f"{question['variable']} is unknown")
    kind = option.get("type", "raw")
    assert kind in COMPATIBLE[question["type"]], (
        f"{question['variable']} is {kind} ({option['_source']}); a {question['type']} answer is not"
    )
    if kind == "list":
        assert option.get("elements", "str") == "str"


@pytest.mark.parametrize(("name", "question"), QUESTIONS, ids=QUESTION_IDS)
def test_question_offers_only_choices_the_variable_allows(name, question):
    option = KNOWN.get(question["variable"])
    if option is None:
        pytest.fail(f"{question['variable']} is unknown")
    allowed = option.get("choices")
    if allowed is None:
        return
    assert question["type"] in ("multiplechoice", "multiselect"), (
        f"{question['variable']} takes one of {allowed}: ask with multiplechoice, not {question['type']}"
    )
    offered = set(awx_objects.choices_of(question))
    assert offered <= {str(c) for c in allowed}, f"{sorted(offered - set(map(str, allowed)))} not allowed"


def test_uninstall_survey_asks_for_the_data_deletion_confirmation():
    uninstall = awx_objects.job_template("playbooks/uninstall.yml")
    variables = {q["variable"] for q in SURVEYS[uninstall["name"]]["spec"]}
    assert "pachyderm_uninstall_delete_data_confirm" in variables


def test_data_deletion_is_never_the_default():
    uninstall = awx_objects.job_template("playbooks/uninstall.yml")
    for question in SURVEYS[uninstall["name"]]["spec"]:
        if question["variable"] == "pachyderm_uninstall_delete_data_confirm":
            assert not question["required"] and not question.get("default")


def test_job_templates_run_playbooks_of_the_project():
    for jt in awx_objects.controller_vars()["oneport_awx_job_templates"]:
        assert (REPO / jt["playbook"]).is_file(), f"{jt['name']} runs {jt['playbook']}, which is missing"


def sample_answer(question: dict):
    """A valid answer of the question's type."""
    kind = question["type"]
    if kind in ("multiplechoice", "multiselect"):
        first = awx_objects.choices_of(question)[0]
        return first if kind == "multiplechoice" else [first]
    if kind in ("integer", "float"):
        return question.get("min") or 1
    return "x" * max(1, question.get("min") or 0)


@pytest.mark.parametrize("name", sorted(SURVEYS))
def test_unanswered_optional_questions_pass_no_variable(name):
    required = {q["variable"]: sample_answer(q) for q in SURVEYS[name]["spec"] if q["required"]}
    assert awx_objects.answer_to_extra_vars(SURVEYS[name], required) == required


def test_an_answer_outside_the_choices_is_refused():
    deploy = SURVEYS[awx_objects.job_template("playbooks/site.yml")["name"]]
    with pytest.raises(ValueError, match="oneport_platform"):
        awx_objects.answer_to_extra_vars(deploy, {"oneport_platform": "openstack"})
