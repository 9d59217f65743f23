#!/usr/bin/env python3
"""The inputs and outputs tables of a Terraform module's README, generated from its variables
and outputs (what terraform-docs does, without a download): each variable's name, type,
default (or **required**) and description; each output's name and description.

The tables go between the markers `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->` of the
module's README.md; the rest of the README is the author's.

    scripts/module-docs.py terraform/modules/etcd-cluster           # rewrite the README
    scripts/module-docs.py --check terraform/modules/etcd-cluster   # exit 1 when it differs

The structure tests (terraform/tests/test_structure.py) run the check: a variable or an output
added, removed or re-described without regenerating fails `make test`.
"""

import argparse
import glob
import json
import os
import sys

import hcl2

BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"


def one(value):
    """python-hcl2 wraps attribute values in a list; unwrap it."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def expr(text):
    """A `${...}` expression string as HCL source."""
    if isinstance(text, str) and text.startswith("${") and text.endswith("}"):
        return text[2:-1]
    return text


def hcl_value(value):
    """A default as it reads in HCL."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(expr(value)) if not value.startswith("${") else expr(value)
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, separators=(", ", " = ") if isinstance(value, dict) else (", ", ": "))


def cell(text):
    """Markdown table cell text: one line, HCL's escaped quotes as quotes, pipes escaped."""
    return " ".join(str(text).replace('\\"', '"').split()).replace("|", "\\|")


def blocks(module_dir, kind):
    """Every `kind` block (variable, output) of the module's .tf files, in file and line order."""
    out = []
    for path in sorted(glob.glob(os.path.join(module_dir, "*.tf"))):
        with open(path, encoding="utf-8") as fh:
            parsed = hcl2.load(fh)
        for block in parsed.get(kind, []):
            for name, body in block.items():
                out.append((name, body))
    return out


def tables(module_dir):
    lines = [
        "## Inputs",
        "",
        "| name | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for name, body in blocks(module_dir, "variable"):
        ty = expr(one(body.get("type", "${any}")))
        default = "**required**" if "default" not in body else f"`{hcl_value(one(body['default']))}`"
        lines.append(f"| `{name}` | `{cell(ty)}` | {cell(default)} | {cell(one(body.get('description', '')))} |")
    lines += ["", "## Outputs", "", "| name | description |", "| --- | --- |"]
    for name, body in blocks(module_dir, "output"):
        lines.append(f"| `{name}` | {cell(one(body.get('description', '')))} |")
    return "\n".join(lines) + "\n"


def render(readme, generated):
    """The README with its generated part replaced; ValueError without both markers."""
    try:
        head, rest = readme.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"the README needs the markers {BEGIN} and {END}") from None
    return f"{head}{BEGIN}\n{generated}{END}{tail}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module_dir")
    ap.add_argument("--check", action="store_true", help="exit 1 when the README is not what would be generated")
    args = ap.parse_args()
    path = os.path.join(args.module_dir, "README.md")
    with open(path, encoding="utf-8") as fh:
        readme = fh.read()
    want = render(readme, tables(args.module_dir))
    if args.check:
        if want != readme:
            print(f"{path} is out of date: run scripts/module-docs.py {args.module_dir}", file=sys.stderr)
            return 1
        return 0
    if want != readme:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(want)
        print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
