"""Check a saved member's object graph on skops' schema, before anything in it is built.

A member file is a zip whose `schema.json` describes every object it holds: its class, its module, how
skops builds it, and what it contains. Type checks alone (skops' `trusted`) say which classes may appear
anywhere; this says which may appear *where*, as the product writes them:

- the root is the member's pipeline, its steps the product's steps by name, in order;
- the last step is one registered learner's class, and everything inside it is among the classes that
  learner's fitted estimator holds (`Learner.holds`), besides containers, strings, numbers and numpy arrays
  of numbers (no array of objects: none of the learners keeps one);
- the first step is the product's table preparation, the encoding step holds what the learner's encoding
  fits (`ENCODER_CLASSES`), and the steps that act only while fitting (resampling, augmentation) are saved
  as nothing;
- the schema nests at most `MAX_DEPTH` levels (a file of thousands of nested lists is refused before it is
  parsed into Python objects, let alone built).

So a file that passes holds, class by class and place by place, what one of the registry's learners saves;
a gradient-boosting model in a forest's place, a forest inside 25 pipelines or a learner the registry does
not know is refused without building any of it.
"""

from __future__ import annotations

import io
import json
import zipfile

from imbalance_flows.tasks.errors import InputError

MAX_DEPTH = 128  # JSON levels of a schema; the product's members nest about 30
STEPS = ("prepare", "resample", "augment", "encode", "learn")  # the product's member pipeline (model/members.py)
PREPARE = ("imbalance_flows.tasks.model.prepare:TablePrep",)
# Classes that may appear anywhere: skops' containers and plain values, numpy's arrays, dtypes and scalars.
PLAIN_BUILTINS = {"dict", "list", "tuple", "str", "int", "float", "bool", "NoneType", "type", "slice"}
OBJECT_ARRAY = "ndarray of objects"  # how a refusal names an array of objects (skops writes them as "json")
RETRY = "The file was changed after it was saved, or was not written by imbalance-flows: retrain, or restore the version."


def check_member_graph(data: bytes, path: str) -> None:
    """Refuse a member file whose schema holds anything but what the product writes, where it writes it."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        try:
            raw = archive.read("schema.json")
        except KeyError:
            raise InputError("a saved member must be a skops file", f"{path!r} has no schema.json", RETRY) from None
    deepest = _depth(raw)
    if deepest > MAX_DEPTH:
        raise InputError(f"a saved member's schema nests at most {MAX_DEPTH} levels",
                         f"{path!r} nests {deepest}", RETRY)
    try:
        schema = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise InputError("a saved member's schema must be JSON", f"{path!r}: {error}", RETRY) from None
    from imbalance_flows.tasks.learners.registry import saved_forms
    from imbalance_flows.tasks.model.members import ENCODER_CLASSES

    steps = dict(_steps(schema, path))
    forms = saved_forms()
    learner_class = _class(steps["learn"])
    if learner_class not in forms:
        _refuse(path, "step 'learn'", learner_class, forms)
    learner, held = forms[learner_class]
    allowed = {
        "prepare": _names(PREPARE),
        "resample": set(), "augment": set(),  # samplers act only while fitting and are saved as "passthrough"
        "encode": _names(ENCODER_CLASSES[learner.encoding]),
        "learn": {learner_class, *held},
    }
    for name, node in steps.items():
        outermost = _class(node)
        if name in ("prepare", "learn") and outermost not in allowed[name]:  # the step itself, not inside a list
            _refuse(path, f"step {name!r}", outermost, allowed[name])
        for found in _classes(node):
            if found not in allowed[name]:
                where = f"the learner {learner.name}" if name == "learn" else f"step {name!r} of a {learner.name} member"
                _refuse(path, where, found, allowed[name])


def _refuse(path: str, where: str, found: str, allowed) -> None:
    shown = ", ".join(sorted(name.rsplit(".", 1)[-1] for name in allowed)) or "nothing but plain values"
    raise InputError("a saved member holds only what its learner saves, where it saves it",
                     f"{path!r}: {where} holds {found} (it may hold {shown})", RETRY)


def _names(paths) -> set[str]:
    """"module:Class" paths as skops names classes: by the module that defines them."""
    from imbalance_flows.tasks.learners.registry import class_name, load_estimator

    return {class_name(load_estimator(path)) for path in paths}


def _class(node) -> str:
    """A schema node's class as "module.Class" ("?" where it names none)."""
    if not isinstance(node, dict):
        return "?"
    return f"{node.get('__module__', '?')}.{node.get('__class__', '?')}"


def _steps(schema, path: str) -> list[tuple[str, dict]]:
    """The pipeline's (name, node) steps, checked to be the product's steps in order."""
    if _class(schema) != "imblearn.pipeline.Pipeline":
        raise InputError("a saved member must hold a member's pipeline",
                         f"{path!r} holds a {_class(schema).rsplit('.', 1)[-1]}", RETRY)
    fields = _content(schema.get("content"), "builtins.dict")  # an object's state is a dict node
    steps = fields.get("steps") if isinstance(fields, dict) else None
    items = _content(steps, "builtins.list")
    pairs = []
    for item in items if isinstance(items, list) else []:
        pair = _content(item, "builtins.tuple")
        if not (isinstance(pair, list) and len(pair) == 2 and _class(pair[0]) == "builtins.str"):
            break
        try:
            name = json.loads(pair[0].get("content", "null"))
        except (TypeError, ValueError):
            break
        pairs.append((name, pair[1]))
    names = tuple(name for name, _ in pairs)
    if names != STEPS or len(pairs) != len(items or ()):
        raise InputError(f"a saved member's pipeline has the steps {', '.join(STEPS)}",
                         f"{path!r} has {list(names) if names else 'none that can be read'}", RETRY)
    return pairs


def _content(node, cls: str):
    """The `content` of a schema node of class `cls` (a dict node's fields, a list or tuple node's items); None
    where the node is not one."""
    if _class(node) != cls:
        return None
    content = node.get("content")
    return content if isinstance(content, (dict, list)) else None


def _classes(node):
    """Every class named under `node` (itself included) but plain values (`_plain`); numpy's object arrays as
    OBJECT_ARRAY. Iterative: the depth was bounded before parsing, and the walk uses no recursion."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, list):
            stack.extend(current)
            continue
        if not isinstance(current, dict):
            continue
        name = _class(current)
        if "__class__" in current or "__module__" in current:
            if name == "numpy.ndarray" and current.get("type") == "json":
                yield OBJECT_ARRAY
            elif not _plain(name):
                yield name
        stack.extend(value for key, value in current.items() if isinstance(value, (dict, list)))


def _plain(name: str) -> bool:
    """Whether a class named in a schema is a plain value: a container, string or number, or numpy's."""
    import numpy as np

    module, _, cls = name.rpartition(".")
    if module == "builtins":
        return cls in PLAIN_BUILTINS
    found = getattr(np, cls, None) if module == "numpy" else None
    return isinstance(found, type) and issubclass(found, (np.generic, np.ndarray, np.dtype))


def _depth(raw: bytes) -> int:
    """How deep `raw`'s JSON nests, counted on its bytes (brackets outside strings), before it is parsed."""
    import re

    import numpy as np

    brackets = np.frombuffer(re.sub(rb'"(?:[^"\\]|\\.)*"', b"", raw), dtype=np.uint8)
    steps = np.isin(brackets, (0x5B, 0x7B)).astype(np.int64) - np.isin(brackets, (0x5D, 0x7D))
    return int(np.cumsum(steps).max(initial=0))
