#!/usr/bin/python3
"""Reference renderer for Hearth's chat-template tests.

Renders every *.jinja template in a folder through Python's jinja2, for every case of the folder's
conversations.json and for add_generation_prompt false and true, configured the way conversations.json's
"about" describes (the way HF transformers renders chat templates). Prints one JSON document:
  {"results": [{"template", "case", "add_generation_prompt", "output" | "error"}...]}
where "error" is the message of the exception jinja2 raised.

Usage: /usr/bin/python3 tools/jinja_reference.py TEMPLATES_DIR [CONVERSATIONS.json]
       (CONVERSATIONS.json defaults to TEMPLATES_DIR/conversations.json; a case may add "extra_context")
   or: /usr/bin/python3 tools/jinja_reference.py --template FILE --context CONTEXT.json
       (renders one template with the given JSON object as its context; prints {"output"} or {"error"})
   or: /usr/bin/python3 tools/jinja_reference.py --cases CASES.json
       (CASES.json: {"context": {...}, "cases": [{"name", "template", "context"?}...]}; renders every case with
        the shared context updated by its own; prints {"results": [{"name", "output" | "error"}...]})
   or: /usr/bin/python3 tools/jinja_reference.py --update-cases CASES.json
       (writes jinja2's result into each case of CASES.json as "output" or "error")
"""
import copy
import datetime
import json
import os
import sys
import warnings

import jinja2
import jinja2.ext
from jinja2 import nodes

FIXED_NOW = datetime.datetime(2026, 1, 15)


class GenerationBlock(jinja2.ext.Extension):
    """HF transformers' {% generation %}...{% endgeneration %}: a call block that renders its body unchanged."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render_body"), [], [], body).set_lineno(lineno)

    def _render_body(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return FIXED_NOW.strftime(fmt)


def make_environment():
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True,
                             extensions=[GenerationBlock, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, template, context):
    """template: source text, or a function that compiles it (so callers can compile once)."""
    try:
        compiled = env.from_string(template) if isinstance(template, str) else template()
        return {"output": compiled.render(**context)}
    except jinja2.exceptions.TemplateError as e:
        return {"error": e.message if e.message is not None else str(e)}
    except Exception as e:  # jinja2 lets Python's own errors (TypeError, ...) through
        return {"error": str(e)}


def render_all(folder, conversations_path=None):
    with open(conversations_path or os.path.join(folder, "conversations.json"), encoding="utf-8") as f:
        conversations = json.load(f)
    env = make_environment()
    results = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".jinja"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            source = f.read()
        compiled = []

        def compile_once():
            if not compiled:
                compiled.append(env.from_string(source))
            return compiled[0]

        for case in conversations["cases"]:
            for add_generation_prompt in (False, True):
                context = {"messages": case["messages"], "add_generation_prompt": add_generation_prompt,
                           "bos_token": "<s>", "eos_token": "</s>"}
                if case.get("tools"):
                    context["tools"] = conversations["tools"]
                context.update(case.get("extra_context", {}))
                context = copy.deepcopy(context)
                result = {"template": name, "case": case["name"], "add_generation_prompt": add_generation_prompt}
                result.update(render(env, compile_once, context))
                results.append(result)
    return {"results": results}


def render_cases(path):
    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    env = make_environment()
    results = []
    for case in document["cases"]:
        # A fresh copy per case: templates can mutate their context (list.append, dict.update, ...).
        context = copy.deepcopy(document.get("context", {}))
        context.update(copy.deepcopy(case.get("context", {})))
        result = {"name": case["name"]}
        result.update(render(env, case["template"], context))
        results.append(result)
    return document, {"results": results}


def update_cases(path):
    document, rendered = render_cases(path)
    for case, result in zip(document["cases"], rendered["results"]):
        case.pop("output", None)
        case.pop("error", None)
        case.update({k: v for k, v in result.items() if k != "name"})
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return {"updated": len(document["cases"])}


def main(argv):
    # jinja2 compiles templates to Python; odd constant expressions make Python warn about its own code.
    warnings.simplefilter("ignore")
    if len(argv) == 3 and argv[1] == "--cases":
        document = render_cases(argv[2])[1]
    elif len(argv) == 3 and argv[1] == "--update-cases":
        document = update_cases(argv[2])
    elif len(argv) == 2 and not argv[1].startswith("--"):
        document = render_all(argv[1])
    elif len(argv) == 3 and not argv[1].startswith("--"):
        document = render_all(argv[1], argv[2])
    elif len(argv) == 5 and argv[1] == "--template" and argv[3] == "--context":
        with open(argv[2], encoding="utf-8") as f:
            source = f.read()
        with open(argv[4], encoding="utf-8") as f:
            context = json.load(f)
        document = render(make_environment(), source, context)
    else:
        sys.stderr.write(__doc__)
        return 2
    sys.stdout.write(json.dumps(document, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
