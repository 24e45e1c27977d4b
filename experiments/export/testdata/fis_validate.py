"""Validate AWS FIS experiment templates against botocore's service model.

Each argument is a JSON file holding the input of CreateExperimentTemplate
(what `aws fis create-experiment-template --cli-input-json file://FILE`
sends). botocore's ParamValidator checks what the SDKs check before sending:
required members, types, minimum lengths and values. The model also states
maximum lengths and patterns, which the service enforces; they are checked
here from the same model (patterns Python's re cannot compile, such as
\\p{L}, are skipped). Prints one JSON line per file: {"file", "errors"}.
No network: the model ships with botocore.
"""
import json
import re
import sys

import botocore
import botocore.session
from botocore.handlers import generate_idempotent_uuid
from botocore.validate import ParamValidator


def constraints(value, shape, path, errors):
    meta = shape.metadata
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                constraints(value[name], member, path + "." + name, errors)
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            errors.append("%s: %d items, at most %d" % (path, len(value), meta["max"]))
        for i, item in enumerate(value):
            constraints(item, shape.member, "%s[%d]" % (path, i), errors)
    elif shape.type_name == "map" and isinstance(value, dict):
        if "max" in meta and len(value) > meta["max"]:
            errors.append("%s: %d entries, at most %d" % (path, len(value), meta["max"]))
        for k, v in value.items():
            constraints(k, shape.key, "%s key %r" % (path, k), errors)
            constraints(v, shape.value, "%s[%r]" % (path, k), errors)
    elif shape.type_name == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            errors.append("%s: %d characters, at most %d" % (path, len(value), meta["max"]))
        if "pattern" in meta:
            try:
                pattern = re.compile(meta["pattern"])
            except re.error:
                return
            if not pattern.search(value):  # Smithy patterns are not anchored
                errors.append("%s: %r does not match %s" % (path, value, meta["pattern"]))


def main():
    session = botocore.session.get_session()
    op = session.get_service_model("fis").operation_model("CreateExperimentTemplate")
    for path in sys.argv[1:]:
        with open(path) as f:
            params = json.load(f)
        errors = []
        if not isinstance(params, dict):
            errors.append("not a JSON object")
        else:
            generate_idempotent_uuid(params=params, model=op)  # as the CLI and SDKs do before validating
            report = ParamValidator().validate(params, op.input_shape)
            if report.has_errors():
                errors.append(report.generate_report())
            constraints(params, op.input_shape, "input", errors)
        print(json.dumps({"file": path, "errors": errors, "botocore": botocore.__version__}))


if __name__ == "__main__":
    main()
