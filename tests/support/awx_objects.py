"""Read the AWX objects under awx/ and turn survey answers into extra variables the way AWX does.

Shared by the survey tests and the ansible-runner test. There is no AWX here; what this module
reproduces is documented AWX behaviour: an answered question becomes one extra variable of the
question's type (text kinds a string, integer an int, float a float, multiselect a list), a question
left unanswered without a default passes nothing, and a credential's injectors are Jinja templates
over its inputs with `tower.filename.<name>` naming the private file each file template is written to.
"""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import jinja2.meta
import jinja2.sandbox
import yaml

from support.paths import REPO

AWX_DIR = REPO / "awx"


class _VarsLoader(yaml.SafeLoader):
    """YAML as Ansible reads a vars file, keeping `!unsafe` strings as they are written."""


_VarsLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def controller_vars() -> dict:
    return yaml.load((AWX_DIR / "vars" / "controller.yml").read_text(), Loader=_VarsLoader)  # noqa: S506


def surveys() -> dict[str, dict]:
    """Each job template's name -> its survey_spec."""
    return {
        jt["name"]: yaml.safe_load((AWX_DIR / "surveys" / jt["survey"]).read_text())
        for jt in controller_vars()["oneport_awx_job_templates"]
    }


def job_template(playbook: str) -> dict:
    for jt in controller_vars()["oneport_awx_job_templates"]:
        if jt["playbook"] == playbook:
            return jt
    raise KeyError(playbook)


def choices_of(question: dict) -> list[str]:
    choices = question.get("choices", [])
    return choices.split("\n") if isinstance(choices, str) else list(choices)


def answer_to_extra_vars(survey: dict, answers: dict) -> dict:
    """Validate answers like AWX does at launch and return the extra variables the job gets."""
    questions = {q["variable"]: q for q in survey["spec"]}
    unknown = set(answers) - set(questions)
    if unknown:
        raise ValueError(f"answers for questions the survey does not ask: {sorted(unknown)}")
    extra = {}
    for variable, question in questions.items():
        if variable not in answers:
            if question["required"]:
                raise ValueError(f"{variable} is required")
            if "default" in question:
                extra[variable] = question["default"]
            continue
        value = answers[variable]
        kind = question["type"]
        if kind in ("text", "textarea", "password"):
            if not isinstance(value, str):
                raise ValueError(f"{variable}: a {kind} answer is a string, got {value!r}")
            low, high = question.get("min"), question.get("max")
            if (low is not None and len(value) < low) or (high is not None and len(value) > high):
                raise ValueError(f"{variable}: {value!r} is not {low}..{high} characters long")
        elif kind == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
            raise ValueError(f"{variable}: an integer answer, got {value!r}")
        elif kind == "float" and not isinstance(value, (int, float)):
            raise ValueError(f"{variable}: a number answer, got {value!r}")
        elif kind == "multiplechoice" and value not in choices_of(question):
            raise ValueError(f"{variable}: {value!r} is not one of {choices_of(question)}")
        elif kind == "multiselect" and (
            not isinstance(value, list) or set(value) - set(choices_of(question))
        ):
            raise ValueError(f"{variable}: {value!r} is not a list of {choices_of(question)}")
        extra[variable] = value
    return extra


def inject_credential(inputs: dict, private_dir: Path) -> tuple[dict, dict]:
    """Apply the kubeconfig credential type's injectors: write its files, return (env, extra_vars)."""
    config = controller_vars()
    injectors = config["oneport_awx_credential_type_injectors"]
    fields = {f["id"]: "" for f in config["oneport_awx_credential_type_inputs"]["fields"]}
    values = {**fields, **inputs}
    jinja = jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    filenames = {}
    for key, template in injectors.get("file", {}).items():
        name = key.split(".", 1)[1] if "." in key else "template"
        path = private_dir / f"credential_{name}"
        path.write_text(jinja.from_string(template).render(**values))
        os.chmod(path, 0o600)
        filenames[name] = str(path)
    namespace = {**values, "tower": {"filename": filenames}}
    env = {k: jinja.from_string(v).render(**namespace) for k, v in injectors.get("env", {}).items()}
    extra = {k: jinja.from_string(v).render(**namespace) for k, v in injectors.get("extra_vars", {}).items()}
    return env, extra


def template_variables(template: str) -> set[str]:
    """Top-level names a Jinja template reads (for checking injectors use only defined inputs)."""
    return jinja2.meta.find_undeclared_variables(
        jinja2.sandbox.ImmutableSandboxedEnvironment(autoescape=True).parse(template)
    )
