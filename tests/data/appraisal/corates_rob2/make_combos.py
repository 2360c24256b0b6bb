"""Write combos.json: every consistent answer set of the toolkit's RoB 2 template, for
score.mjs (run from the repository root: python tests/data/appraisal/corates_rob2/make_combos.py)."""
import json
import sys

sys.path[:0] = [".", "tests"]
from appraisal_helpers import answer_sets  # noqa: E402
from toolkit.appraisal.templates import load_tool, package_tools  # noqa: E402

tool = load_tool(package_tools()["rob2"])
json.dump([{"domain": d["id"], "answers": a} for d in tool.domains for a in answer_sets(d)],
          open("combos.json", "w"))
