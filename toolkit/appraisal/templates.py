"""Appraisal tools as YAML templates, validated when loaded.

Shape (see docs/appraisal.md)::

    name: rob2                     # identifier; defaults to the file name
    title: "..."                   # shown in prompts and plots
    version: "2019-08-22"          # the tool's version, kept with every stored assessment
    reference: "..."               # optional citation
    robvis: ROB2                   # optional: robvis's name of the tool (ROB2, ROBINS-I, ...)
    judgements: [Low, Some concerns, High]     # default answers of a domain
    classes: {Low: low, Some concerns: some, High: high}   # judgement -> plot class
    answers: [Y, PY, PN, N, NI]    # default answers of a signalling question
    domains:
      - id: D1                     # identifier: letters, digits, _ and .; unique
        name: "..."                # the domain (or checklist item) as the tool words it
        group: Selection           # optional (Newcastle-Ottawa groups)
        judgements: [...]          # optional: this domain's own answers (and classes:)
        algorithm: rob2_d1         # optional: derive the judgement from the questions
        questions:                 # optional signalling questions
          - id: "1.1"
            text: "..."
            answers: [Y, PY, PN, N, NI]       # optional, else the template's
            ask_if: {any: {"2.1": [Y, PY, NI]}}   # optional: otherwise not asked (NA)
    overall:
      rule: worst                  # worst | robins_i | sum | nos_ahrq | none (reviewer's)
      judgements: [...]            # optional: the overall scale (else the template's)
      classes: {...}

Plot classes are robvis's: low, some, high, critical, ni (no information), na (not
applicable). A domain without an algorithm is judged by the reviewer; its answer *is* the
judgement (a JBI item, a MINORS score).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml

from ..errors import ReviewError
from ..store import Review, now_iso
from . import algorithms

CLASSES = ("low", "some", "high", "critical", "ni", "na")
TOP_KEYS = {"name", "title", "version", "reference", "description", "robvis", "judgements",
            "classes", "answers", "domains", "overall"}
DOMAIN_KEYS = {"id", "name", "group", "judgements", "classes", "algorithm", "questions",
               "help"}
QUESTION_KEYS = {"id", "text", "answers", "ask_if", "help"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")
OVERALL = "overall"
PACKAGE_DIR = Path(__file__).resolve().parent / "tools"


class Tool:
    """A validated appraisal tool: ``name``, ``title``, ``version``, ``domains`` (dicts in
    order, each with ``questions``), ``overall`` ({rule, judgements, classes}), ``text``."""

    def __init__(self, data: dict, text: str):
        self.name = data["name"]
        self.title = data.get("title") or self.name
        self.version = str(data.get("version") or "")
        self.reference = data.get("reference")
        self.robvis = data.get("robvis")
        self.domains: list[dict] = data["domains"]
        self.overall: dict = data["overall"]
        self.text = text
        self.by_id = {d["id"]: d for d in self.domains}
        self.questions = {q["id"]: (q, d) for d in self.domains for q in d["questions"]}

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def derives_overall(self) -> bool:
        return self.overall["rule"] != "none"

    def item(self, item_id: str) -> tuple[str, dict]:
        """('question' | 'domain' | 'overall', its spec) of an item id (any case); KeyError
        if the tool has no such item."""
        if item_id.casefold() == OVERALL:
            return "overall", self.overall
        for key, (q, _) in self.questions.items():
            if key.casefold() == item_id.casefold():
                return "question", q
        for key, d in self.by_id.items():
            if key.casefold() == item_id.casefold():
                return "domain", d
        raise KeyError(item_id)

    def choices(self, item_id: str) -> list[str]:
        kind, spec = self.item(item_id)
        return spec["answers"] if kind == "question" else spec["judgements"]

    def canonical(self, item_id: str, text) -> tuple[str, str]:
        """(item id as the tool spells it, the answer as the tool spells it); ValueError
        saying why when the item or answer is not the tool's."""
        try:
            kind, spec = self.item(str(item_id).strip())
        except KeyError:
            raise ValueError(f"{item_id!r} is not a question, domain or 'overall' of tool "
                             f"{self.name}") from None
        ident = OVERALL if kind == "overall" else spec["id"]
        value = " ".join(str(text or "").split())
        if not value:
            raise ValueError("empty")
        for c in self.choices(ident):
            if c.casefold() == value.casefold():
                return ident, c
        if kind == "overall" and self.overall["rule"] == "sum":
            raise ValueError("the overall score is derived (the sum of the items)")
        raise ValueError(f"{value!r} is not one of {', '.join(self.choices(ident))}")

    def class_of(self, domain_id: str | None, value: str | None) -> str:
        """The plot class of a domain's (or, with None, the overall) judgement."""
        if value is None:
            return "ni"
        spec = self.overall if domain_id in (None, OVERALL) else self.by_id[domain_id]
        return spec["classes"].get(value, "na")


def _fail(msg, source, where=None):
    raise ReviewError(msg, file=source, record=where)


def _text_list(value, what, source, where) -> list[str]:
    if not isinstance(value, list) or not value:
        _fail(f"{what} must be a non-empty list of text", source, where)
    odd = [v for v in value if not isinstance(v, (str, int)) or isinstance(v, bool)]
    if odd:
        _fail(f"{what}: YAML read {odd!r} as true/false or not text; quote them "
              "(e.g. \"Yes\", \"No\")", source, where)
    out = [" ".join(str(v).split()) for v in value]
    if len({v.casefold() for v in out}) != len(out) or not all(out):
        _fail(f"{what} has empty or duplicate entries: {out}", source, where)
    return out


def _classes(raw, judgements, inherited, source, where) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        _fail("classes must map each judgement to a plot class", source, where)
    out = {}
    for j in judgements:
        cls = raw.get(j, inherited.get(j))
        if cls is None:
            _fail(f"judgement {j!r} has no plot class (classes: {{{j}: low|some|high|"
                  "critical|ni|na}})", source, where)
        if cls not in CLASSES:
            _fail(f"class {cls!r} of {j!r} is not one of {', '.join(CLASSES)}", source, where)
        out[j] = cls
    return out


def parse_tool(text: str, *, source: str = "<tool>", default_name: str | None = None) -> Tool:
    """Validate template YAML; every problem is a ReviewError naming the file and item."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ReviewError(f"not valid YAML: {exc}", file=source) from None
    if not isinstance(data, dict) or not isinstance(data.get("domains"), list):
        _fail("an appraisal tool is a mapping with a list 'domains:'", source)
    unknown = set(data) - TOP_KEYS
    if unknown:
        _fail(f"unknown top-level keys {sorted(unknown)}", source)
    name = str(data.get("name") or default_name or "").strip()
    if not _NAME.match(name):
        _fail(f"tool name {name!r} must be letters, digits and _", source)
    base_j = _text_list(data["judgements"], "judgements", source, None) \
        if "judgements" in data else None
    base_cls = data.get("classes") or {}
    if not isinstance(base_cls, dict):
        _fail("classes must map each judgement to a plot class", source)
    base_answers = _text_list(data["answers"], "answers", source, None) \
        if "answers" in data else None
    seen: set[str] = {OVERALL}
    domains = []
    for i, raw in enumerate(data["domains"], start=1):
        where = f"domain {i}"
        if not isinstance(raw, dict):
            _fail("each domain is a mapping (id:, name:, ...)", source, where)
        did = str(raw.get("id", "")).strip()
        if not _ID.match(did):
            _fail(f"id {raw.get('id')!r} must be letters, digits, _ and .", source, where)
        where = f"domain {did}"
        if did.casefold() in seen:
            _fail(f"duplicate id {did!r}", source, where)
        seen.add(did.casefold())
        extra = set(raw) - DOMAIN_KEYS
        if extra:
            _fail(f"unknown keys {sorted(extra)}; allowed: {sorted(DOMAIN_KEYS)}", source, where)
        if not isinstance(raw.get("name"), str) or not raw["name"].strip():
            _fail("a domain needs name: (text)", source, where)
        judgements = _text_list(raw["judgements"], "judgements", source, where) \
            if "judgements" in raw else base_j
        if judgements is None:
            _fail("no judgements: (neither the domain's nor the template's)", source, where)
        algorithm = raw.get("algorithm")
        if algorithm is not None and algorithm not in algorithms.DOMAIN_ALGORITHMS:
            _fail(f"unknown algorithm {algorithm!r}; known: "
                  f"{', '.join(algorithms.DOMAIN_ALGORITHMS)}", source, where)
        questions = []
        for j, q in enumerate(raw.get("questions") or [], start=1):
            qwhere = f"{where}, question {j}"
            if not isinstance(q, dict):
                _fail("each question is a mapping (id:, text:)", source, qwhere)
            extra = set(q) - QUESTION_KEYS
            if extra:
                _fail(f"unknown keys {sorted(extra)}", source, qwhere)
            qid = str(q.get("id", "")).strip()
            if not _ID.match(qid):
                _fail(f"id {q.get('id')!r} must be letters, digits, _ and .", source, qwhere)
            if qid.casefold() in seen:
                _fail(f"duplicate id {qid!r}", source, qwhere)
            seen.add(qid.casefold())
            if not isinstance(q.get("text"), str) or not q["text"].strip():
                _fail("a question needs text:", source, qwhere)
            answers = _text_list(q["answers"], "answers", source, qwhere) \
                if "answers" in q else base_answers
            if answers is None:
                _fail("no answers: (neither the question's nor the template's)", source, qwhere)
            ask_if = _ask_if(q.get("ask_if"), {x["id"]: x for x in questions}, source, qwhere)
            questions.append({"id": qid, "text": q["text"].strip(), "answers": answers,
                              "ask_if": ask_if, "help": q.get("help")})
        if algorithm and not questions:
            _fail("an algorithm needs the questions it reads", source, where)
        domains.append({"id": did, "name": raw["name"].strip(), "group": raw.get("group"),
                        "judgements": judgements,
                        "classes": _classes(raw.get("classes"), judgements, base_cls, source,
                                            where),
                        "algorithm": algorithm, "questions": questions,
                        "help": raw.get("help")})
    if not domains:
        _fail("the tool has no domains", source)
    overall = data.get("overall") or {"rule": "worst"}
    if not isinstance(overall, dict) or overall.get("rule") not in algorithms.OVERALL_RULES:
        _fail(f"overall: rule must be one of {', '.join(algorithms.OVERALL_RULES)}", source,
              OVERALL)
    rule = overall["rule"]
    extra = set(overall) - {"rule", "judgements", "classes"}
    if extra:
        _fail(f"unknown keys {sorted(extra)}", source, OVERALL)
    if rule == "sum":
        if any(not all(j.isdigit() or j.casefold() == "not applicable"
                       for j in d["judgements"]) for d in domains):
            _fail("rule sum needs every domain's judgements to be scores (or Not applicable)",
                  source, OVERALL)
        o_j, o_cls = [], {}
    else:
        o_j = _text_list(overall["judgements"], "judgements", source, OVERALL) \
            if "judgements" in overall else base_j
        if o_j is None:
            _fail("no overall judgements", source, OVERALL)
        o_cls = _classes(overall.get("classes"), o_j, base_cls, source, OVERALL)
        if rule in ("worst", "robins_i"):
            needed = {"worst": {algorithms.overall_worst(
                [c]) for d in domains for c in d["classes"].values()},
                "robins_i": {c for d in domains for c in d["classes"].values()}}[rule]
            missing = needed - set(o_cls.values()) - {"na"}
            if missing:
                _fail(f"rule {rule} can give classes {sorted(missing)} that no overall "
                      "judgement has", source, OVERALL)
        if rule == "nos_ahrq":
            if set(o_j) != {"Good", "Fair", "Poor"}:
                _fail("rule nos_ahrq gives Good, Fair or Poor: list those", source, OVERALL)
            groups = {d.get("group") for d in domains}
            if not groups <= {"Selection", "Comparability", "Outcome"} or any(
                    not all(j.isdigit() for j in d["judgements"]) for d in domains):
                _fail("rule nos_ahrq needs star counts in the groups Selection, "
                      "Comparability and Outcome", source, OVERALL)
    return Tool({**data, "name": name, "domains": domains,
                 "overall": {"rule": rule, "judgements": o_j, "classes": o_cls}}, text)


def _ask_if(raw, earlier: dict, source, where) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in ("any", "all"):
        _fail("ask_if is {any: {QUESTION: [answers]}} or {all: {...}}", source, where)
    mode, conds = next(iter(raw.items()))
    if not isinstance(conds, dict) or not conds:
        _fail("ask_if needs at least one QUESTION: [answers]", source, where)
    out = {}
    for qid, answers in conds.items():
        q = earlier.get(str(qid))
        if q is None:
            _fail(f"ask_if names {qid!r}, which is not an earlier question of the domain",
                  source, where)
        answers = _text_list(answers, f"ask_if {qid}", source, where)
        bad = [a for a in answers if a not in q["answers"]]
        if bad:
            _fail(f"ask_if {qid}: {bad} are not answers of {qid}", source, where)
        out[str(qid)] = answers
    return {"mode": mode, "conditions": out}


def load_tool(path: str | Path) -> Tool:
    path = Path(path)
    if not path.exists():
        raise ReviewError("appraisal tool file not found", file=path)
    return parse_tool(path.read_text(encoding="utf-8"), source=str(path),
                      default_name=path.stem)


def tools_dir(review: Review) -> Path:
    """``appraisal/tools/`` in the folder that holds the review store."""
    return review.path.resolve().parent / "appraisal" / "tools"


def package_tools() -> dict[str, Path]:
    """{name: path} of the templates that ship with the toolkit."""
    return {p.stem: p for p in sorted(PACKAGE_DIR.glob("*.yaml"))}


def find_tool(review: Review, name: str | None) -> Tool:
    """The tool called ``name``: a path to a YAML file, a template in the review's
    ``appraisal/tools/`` (which wins over the package's of the same name), a template of the
    toolkit, or one stored in the review. Without a name: the only tool the review has
    used."""
    if name and (name.endswith((".yaml", ".yml")) or "/" in name):
        return load_tool(name)
    stored = [r["name"] for r in review.db.query("select name from appraisal_tools")]
    if not name:
        if len(stored) == 1:
            name = stored[0]
        else:
            known = ", ".join(sorted(set(stored) | set(package_tools()))) or "none"
            raise ReviewError(f"choose the appraisal tool with --tool NAME (known: {known})")
    folder = tools_dir(review)
    for p in (sorted(folder.glob("*.yaml")) if folder.exists() else []):
        if p.stem == name:
            return load_tool(p)
    path = package_tools().get(name)
    if path is not None:
        return load_tool(path)
    if name in stored:
        return stored_tool(review, name)
    raise ReviewError(f"no appraisal tool {name!r} (in {folder}, the toolkit's "
                      f"{', '.join(package_tools())}, or the review)")


def stored_tool(review: Review, name: str) -> Tool | None:
    rows = list(review.db.query("select yaml from appraisal_tools where name = ?", [name]))
    if not rows:
        return None
    return parse_tool(rows[0]["yaml"], source=f"tool {name} (stored)", default_name=name)


def register_tool(review: Review, tool: Tool) -> None:
    """Keep the tool's text in the store (caller holds the transaction). A changed template
    of the same name replaces the stored one only if every live stored answer still fits it;
    otherwise nothing changes and the error lists what does not fit."""
    rows = list(review.db.query("select sha256 from appraisal_tools where name = ?",
                                [tool.name]))
    if rows and rows[0]["sha256"] == tool.sha256:
        return
    if rows:
        problems = []
        for r in review.db.query(
                "select study, item, assessor, value from appraisal_entries where tool = ? "
                "and superseded_at is null order by id", [tool.name]):
            try:
                tool.canonical(r["item"], r["value"])
            except ValueError as exc:
                problems.append(f"study {r['study']}, {r['item']} = {r['value']!r} "
                                f"(by {r['assessor']}): {exc}")
        if problems:
            raise ReviewError(f"tool {tool.name} has changed and {len(problems)} stored "
                              "answer(s) do not fit it; nothing was changed:\n"
                              + "\n".join(problems))
    review.db["appraisal_tools"].upsert({"name": tool.name, "yaml": tool.text,
                                         "sha256": tool.sha256, "version": tool.version,
                                         "loaded_at": now_iso()}, pk="name")
    review.log("appraisal_tool", {"name": tool.name, "sha256": tool.sha256,
                                  "version": tool.version, "replaced": bool(rows)})
