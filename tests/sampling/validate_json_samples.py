#!/usr/bin/python3
"""Validates sampled outputs against their JSON Schemas with a real validator (Debian's python3-jsonschema).

usage: validate_json_samples.py CASES.json
CASES.json: [{"name": ..., "schema": ..., "samples": ["<json text>", ...]}, ...]
Prints one line per invalid sample (at most 20) and a summary; exits 1 if any sample is not valid JSON or fails
its schema (draft 2020-12, formats checked).
"""
import datetime
import json
import sys

import jsonschema

checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
# Debian's jsonschema checks date-time and time only with rfc3339-validator, which Debian lacks: Python's own
# ISO 8601 reader (3.11) stands in, with RFC 3339's demand for a time zone.
def rfc3339_time(text: str) -> bool:
    parsed = datetime.time.fromisoformat(text)
    return parsed.tzinfo is not None

@checker.checks("date-time", raises=ValueError)
def check_date_time(text):
    if not isinstance(text, str):
        return True
    date, separator, time = text.partition("T")
    return separator == "T" and bool(datetime.date.fromisoformat(date)) and rfc3339_time(time)

@checker.checks("time", raises=ValueError)
def check_time(text):
    return not isinstance(text, str) or rfc3339_time(text)

def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    samples = invalid = 0
    for case in cases:
        validator = jsonschema.Draft202012Validator(case["schema"], format_checker=checker)
        for text in case["samples"]:
            samples += 1
            try:
                instance = json.loads(text)
                error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
            except (ValueError, RecursionError) as e:
                error = e
            if error is not None:
                invalid += 1
                if invalid <= 20:
                    print(f"INVALID {case['name']}: {json.dumps(case['schema'])}\n  sample: {text!r}\n  error: {error}")
    print(f"validated {samples} samples of {len(cases)} schemas: {invalid} invalid")
    return 1 if invalid else 0

if __name__ == "__main__":
    sys.exit(main())
