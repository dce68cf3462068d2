"""The course as a reader meets it: one set-up cell, exercises with solutions, no lab-log in teaching
text, numbers that come from the files, a glossary that matches the notebooks, a README whose numbers
and links come from the files."""
import json
import re
import shutil
from pathlib import Path

import pytest

from experiments import readme
from helpers.io import ROOT, describe_model

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TEACHING = [ROOT / "README.md", ROOT / "notebooks" / "GLOSSARY.md", *NOTEBOOKS]
# The report (11) says its machines and dates once, in its method section, and italicises the venues of its
# references and its figure captions: tests/test_report.py holds it to those rules instead.
REPORT = ("11",)
OWNED = [p for p in NOTEBOOKS if p.name[:2] not in REPORT]


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell) -> str:
    return "".join(cell["source"])


def test_every_notebook_opens_with_the_same_set_up_cell_and_the_repository_of_pyproject():
    first = {path.name: source(next(c for c in cells(path) if c["cell_type"] == "code")) for path in NOTEBOOKS}
    assert len(set(first.values())) == 1, f"set-up cells differ: {sorted(first)}"
    setup = next(iter(first.values()))
    assert f'REPO_URL = "{readme.repo_url()}"' in setup and "raise ModuleNotFoundError" in setup


WITH_EXERCISES = ("01", "02", "03", "04", "05", "06", "07", "08", "09")     # 10 ends with "Going further"; 11 is the analysis


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] in WITH_EXERCISES], ids=lambda p: p.name)
def test_exercises_have_collapsed_solutions_that_run(path):
    nb = cells(path)
    questions = [i for i, c in enumerate(nb) if c["cell_type"] == "markdown" and re.search(r"^\*\*\d\.", source(c), re.M)]
    solutions = [c for c in nb if "solution" in c["metadata"].get("tags", []) and c["cell_type"] == "code"]
    assert 2 <= len(questions) <= 4 and len(solutions) == len(questions), (len(questions), len(solutions))
    assert any("## Your turn" in source(c) for c in nb)
    for cell in solutions:
        assert cell["metadata"]["jupyter"]["source_hidden"] and cell["execution_count"] is not None
    if any("check(" in source(c) for c in nb if c["cell_type"] == "code"):      # checked exercises (package checks)
        for cell in solutions:          # collapsed in Colab's form view too, and the committed output says "Right"
            assert cell["metadata"].get("cellView") == "form" and source(cell).startswith("#@title Solution")
            printed = "".join("".join(o.get("text", "")) for o in cell["outputs"])
            assert printed.startswith("Right: ") and "Not yet" not in printed, printed[:200]


@pytest.mark.parametrize("path", TEACHING, ids=lambda p: p.name)
def test_teaching_text_names_no_issue_history_or_machine_path(path):
    nb = path.suffix == ".ipynb"
    texts = [source(c) for c in cells(path)] if nb else [path.read_text()]
    if nb:
        texts += ["".join(o.get("text", "")) + json.dumps(o.get("data", {}).get("text/plain", ""))
                  + "".join(o.get("traceback", []))
                  for c in cells(path) for o in c.get("outputs", [])]
    text = "\n".join(texts)
    for pattern in (r"\bissue \d+", r"/work/", r"/tmp/", r"/home/", r"/root/", r"\bseed report\b", r"\bsittings?\b",
                    r"\bcandidate (model|run)s?\b", r"benchmarks/RESULTS", r"scripts/"):
        assert not re.search(pattern, text, re.IGNORECASE), f"{path.name} says {pattern!r}"
    for pattern in HISTORY:
        assert not re.search(pattern, text, re.IGNORECASE), f"{path.name} tells the project's history: {pattern!r}"


# How the course came to be, which a learner does not need: say what IS instead. "candidate" also
# catches models/candidates; "older records", "today's default", "an earlier default's rows" and the rest
# are the phrases a reader's audit found in code comments and prose.
HISTORY = (r"\bthe earlier (design|default|run|reference|model|network|version)s?\b", r"\ban earlier default",
           r"\bearlier one'?s\b", r"\btrained before this comparison\b", r"\btoday'?s (default|names?)\b",
           r"\bolder records?\b", r"\brecords? omit\b", r"\bshared with other jobs\b", r"\bcandidates?\b",
           r"\bthe previous reference\b")

# Where a number was measured: a processor's name, a core count, "CPU-minutes", an ISO date.
MACHINE = re.compile(r"\b(Intel|Xeon|AMD|EPYC|Ryzen|Apple M\d|\d+-core|CPU-minutes?|\d+ CPU cores)\b|(?<![-\w])20\d\d-\d\d-\d\d(?![-\w])")
PROVENANCE = "**Where the numbers come from.**"


def every_text(path: Path) -> list[tuple[str, str]]:
    """(where, text) of every cell's source and every output of a notebook."""
    out = []
    for i, cell in enumerate(cells(path)):
        out.append((f"cell {i} ({cell['cell_type']})", source(cell)))
        for o in cell.get("outputs", []):
            printed = "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
            out.append((f"cell {i}'s output", printed + "".join(o.get("traceback", []))))
    return out


@pytest.mark.parametrize("path", OWNED, ids=lambda p: p.name)
def test_machine_and_date_said_once_per_notebook(path):
    """One paragraph, starting PROVENANCE, says where the committed numbers were measured; no other
    cell, code comment or output names a machine or a date (tables have no such column)."""
    texts = every_text(path)
    lines = [line for where, text in texts if where.endswith("(markdown)")
             for line in text.split("\n\n") if line.startswith(PROVENANCE)]
    assert len(lines) == 1, f"{len(lines)} paragraphs start {PROVENANCE!r}"
    line = lines[0]
    line = " ".join(line.split())
    assert re.search(r"results files? keeps? each", line) or "results/anchors.json" in line, line
    if MACHINE.search(line):
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", line), "the machine is named, its date is not"
    for where, text in texts:
        found = MACHINE.search(" ".join(text.split()).replace(line, ""))
        assert not found, f"{path.name}, {where}, names {found[0]!r}: say it once, in the {PROVENANCE!r} line"


def test_describe_model_names_no_processor():
    line = describe_model(ROOT / "models" / "ddpm_reference.pt")
    assert "training steps" in line and not MACHINE.search(line), line


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_find_files_from_the_repository_root(path):
    code = "\n".join(source(c) for c in cells(path) if c["cell_type"] == "code")
    assert '"../' not in code and "'../" not in code, "a path relative to the working directory"
    assert "GLOSSARY.md" in "\n".join(source(c) for c in cells(path) if c["cell_type"] == "markdown") \
        or path.name.startswith("11")


def test_the_colour_notebook_says_which_pictures_its_outputs_show():
    """Its heading and first paragraph say when the committed outputs come from the generated stand-in."""
    nb = cells(next(p for p in NOTEBOOKS if p.name.startswith("10_")))
    printed = "".join("".join(o.get("text", "")) for c in nb for o in c.get("outputs", []))
    heading = " ".join(source(nb[0]).split())
    on_stand_in = "uses the generated stand-in" in printed
    assert on_stand_in or "CIFAR-10: " in printed, "the data cell's output says neither"
    assert ("outputs saved with the course were made on the stand-in" in heading) == on_stand_in


def test_readme_is_a_front_door_whose_tables_come_from_the_files():
    text = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- notebooks:start.*?<!-- notebooks:end -->", text, re.S).group()
    assert len(table.splitlines()) == len(NOTEBOOKS) + 4    # markers, header, rule: one generated row per notebook
    assert len(text.replace(table, "").encode()) <= 4.5 * 1024, "the README's prose is no longer short"
    assert readme.main(["--check"]) == 0, "README.md is out of date: python -m experiments.readme"
    for path in NOTEBOOKS:
        assert readme.colab_link(path.name) in text
    for picture in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (ROOT / picture).is_file(), picture


def test_the_readme_check_fails_when_a_number_is_edited(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    edited = text.replace("99.52%", "99.99%", 1)
    assert edited != text
    (tmp_path / "README.md").write_text(edited)
    for name in ("pyproject.toml", "notebooks", "results", "models"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.setattr(readme, "ROOT", tmp_path)
    monkeypatch.setattr(readme, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(readme, "NOTEBOOKS", tmp_path / "notebooks")
    assert readme.main(["--check"]) == 1


def test_the_clip_notebooks_quoted_numbers_are_printed_from_the_results_file():
    """Every percentage in notebook 08's text is printed by a cell whose output nbval compares, and
    that cell reads results/clip_small.json (so the text cannot drift from the file unnoticed)."""
    nb = cells(next(p for p in NOTEBOOKS if p.name.startswith("08_")))
    quoted = {m for c in nb if c["cell_type"] == "markdown" for m in re.findall(r"\d+\.\d+%", source(c))}
    printed = "".join("".join(o.get("text", "")) for c in nb if c["cell_type"] == "code"
                      and "committed[" in source(c) and "NBVAL_IGNORE_OUTPUT" not in source(c)
                      for o in c.get("outputs", []))
    assert quoted and all(q in printed for q in quoted), sorted(q for q in quoted if q not in printed)

# Numbers quoted from the files. A number in a notebook's markdown that comes from a results file is
# followed, with nothing between, by a marker naming the file and the value:
#     99.5%<!-- results/reference_quality.json: guided.accuracy -->
#     1.48<!-- results/reference_quality.json: a.distances.fid / a.floor.fid -->     (a ratio; a number may divide too)
#     1,000<!-- results/benchmarks/lever_network.jsonl[label=bottleneck48@5cpu-min]: n -->   (a .jsonl line, by key)
# A path is keys joined by dots (a key that holds a dot, as guided_w1.25, is found whole; list items by index).
# The number must equal the value as the notebook rounds it: as many decimals as it shows, times 100 when
# followed by %. Markdown hides the marker.
QUOTE = re.compile(r"(?P<number>\d[\d,]*(?:\.\d+)?)(?P<percent>%?)[$*]*<!--\s*(?P<file>[^\s:\[]+)"
                   r"(?:\[(?P<key>[^=\]]+)=(?P<value>[^\]]+)\])?:\s*(?P<expr>.+?)\s*-->")


def _resolve(record, path: str):
    parts, node = path.split("."), record
    while parts:
        for n in range(len(parts), 0, -1):
            key = ".".join(parts[:n])
            if isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node, parts = node[int(key)], parts[n:]
                break
            if isinstance(node, dict) and key in node:
                node, parts = node[key], parts[n:]
                break
        else:
            raise KeyError(f"{path!r}: no {parts[0]!r} there")
    return node


def quoted_value(root: Path, quote: re.Match) -> float:
    """The value a marker names, read from its file under ``root``."""
    path = root / quote["file"]
    if path.suffix == ".jsonl":
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        matches = [r for r in lines if str(r.get(quote["key"])) == quote["value"]]
        assert len(matches) == 1, f"{quote['file']}: {len(matches)} lines with {quote['key']} = {quote['value']}"
        record = matches[0]
    else:
        record = json.loads(path.read_text())
    terms = [t.strip() for t in quote["expr"].split(" / ")]
    values = [float(t) if re.fullmatch(r"[\d.]+", t) else _resolve(record, t) for t in terms]
    value = values[0]
    for divisor in values[1:]:
        value /= divisor
    return value


def misquoted(root: Path, text: str) -> list[str]:
    """Each marked number of ``text`` that differs from its file, as "shown != file (expr)"."""
    wrong = []
    for quote in QUOTE.finditer(text):
        shown = quote["number"].replace(",", "")
        decimals = len(shown.partition(".")[2])
        value = quoted_value(root, quote) * (100 if quote["percent"] else 1)
        if f"{value:.{decimals}f}" != shown:
            wrong.append(f"{quote[1]}{quote['percent']} != {value:.{decimals}f} ({quote['file']}: {quote['expr']})")
    return wrong


def markdown(path: Path) -> str:
    return "\n".join(source(c) for c in cells(path) if c["cell_type"] == "markdown")


@pytest.mark.parametrize("path", OWNED, ids=lambda p: p.name)
def test_numbers_quoted_from_results_files_match_them(path):
    text = markdown(path)
    assert text.count("<!--") == len(QUOTE.findall(text)), "a marker that does not follow a number, or is malformed"
    assert not misquoted(ROOT, text), misquoted(ROOT, text)


def test_the_quote_check_fails_when_a_number_or_its_file_is_edited(tmp_path):
    text = markdown(next(p for p in OWNED if p.name.startswith("05_")))
    quote = next(q for q in QUOTE.finditer(text) if q["expr"] == "guided.accuracy")
    assert misquoted(ROOT, text[:quote.start()] + "99.9%" + text[quote.end("percent"):])      # the notebook edited
    (tmp_path / "results").mkdir()
    record = json.loads((ROOT / "results" / "reference_quality.json").read_text())
    record["guided"]["accuracy"] = 0.9
    (tmp_path / "results" / "reference_quality.json").write_text(json.dumps(record))
    assert any("guided.accuracy" in w for w in misquoted(tmp_path, quote[0]))                  # the file edited
    with pytest.raises(KeyError, match="nowhere"):
        misquoted(ROOT, "1.5<!-- results/reference_quality.json: guided.nowhere -->")


PUBLISHED = re.compile(r"\bpublished\b|\bthe paper'?s?\b", re.IGNORECASE)
FIGURE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?%|(?<![\w.])\d+\.\d+(?![\w.])")


def unsourced_published_figures(text: str) -> list[str]:
    """Figures (a percentage, a decimal) in paragraphs that cite published work and carry no anchors.json marker."""
    out = []
    for paragraph in text.split("\n\n"):
        if not PUBLISHED.search(paragraph):
            continue
        bare = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", "", QUOTE.sub("", paragraph), flags=re.DOTALL)   # marked, maths
        out += [f"{m[0]} in: {paragraph[:80]!r}" for m in FIGURE.finditer(bare)]
    return out


@pytest.mark.parametrize("path", OWNED, ids=lambda p: p.name)
def test_published_figures_come_from_anchors_with_a_source(path):
    """A paragraph citing published work ("published", "the paper") quotes its figures with a marker into
    results/anchors.json; every anchor there names its source."""
    assert not unsourced_published_figures(markdown(path))
    anchors = json.loads((ROOT / "results" / "anchors.json").read_text())
    for name, anchor in anchors.items():
        assert name == "note" or len(anchor.get("source", "")) > 20, f"anchors.json: {name} has no source"
    for quote in QUOTE.finditer(markdown(path)):
        if "published" in quote.string[max(0, quote.start() - 300):quote.start()].lower():
            assert quote["file"] == "results/anchors.json", quote[0]


def test_the_published_figure_check_finds_an_unsourced_one():
    claim = "A published class-conditional MNIST diffusion model scores 99.0% against 99.6% on this test."
    assert len(unsourced_published_figures(claim)) == 2
    assert not unsourced_published_figures("The published FID 3.17<!-- results/anchors.json: ddpm_cifar10.fid -->.")


# The glossary. Its terms are the bold words that open an entry (split at commas and "and"), the
# bold or italic words inside entries, and what a bold term's brackets spell out ("ODE (ordinary
# differential equation)"). Italics in a notebook's markdown introduce a glossary term, except the
# words below, which are emphasis; "Answer." opens each exercise's answer.
EMPHASIS = {"answer.", "italics", "later", "same", "when", "which", "real", "further", "guided", "one", "new",
            "why", "how", "training", "original", "average", "test", "not", "worse than predicting zero", "weaker version of itself",
            "hallucinate"}
GLOSSARY = ROOT / "notebooks" / "GLOSSARY.md"


def glossary_terms() -> set[str]:
    text = GLOSSARY.read_text()
    terms = set()
    for bold in re.finditer(r"\*\*([^*]+)\*\*(?:\s*\(([^)$]*)\))?", text):
        for term in re.split(r",\s*|\s+and\s+", bold[1].strip(" .")):
            terms.add(term.strip(' ."').lower())
        if bold[2]:
            terms.add(re.split(r"[;,]", bold[2])[0].strip().lower())
    terms |= {t.lower() for t in re.findall(r"(?<![*\w])\*([^*\n]+?)\*(?![*\w])", text)}
    return {t for t in terms if t}


def known(term: str, terms: set[str]) -> bool:
    t = term.lower().strip()
    return t in terms or t.rstrip("s") in terms or t in EMPHASIS


def italics(text: str) -> list[str]:
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$", "", text, flags=re.DOTALL)        # maths: * is not emphasis there
    text = re.sub(r"\*\*\*([^*]+)\*\*\*", r"*\1*", text)                      # bold italics count as italics
    text = re.sub(r"\*\*[^*]+\*\*", "", text)
    return re.findall(r"(?<![*\w])\*([^*\n]+?)\*(?![*\w])", text)


@pytest.mark.parametrize("path", OWNED, ids=lambda p: p.name)
def test_every_italic_term_of_a_notebook_is_in_the_glossary(path):
    terms = glossary_terms()
    missing = sorted({t for t in italics(markdown(path)) if not known(t, terms)})
    assert not missing, f"in italics but not in the glossary (or EMPHASIS): {missing}"


def test_the_italics_check_finds_a_term_missing_from_the_glossary():
    assert [t for t in italics("the *judge* and the *wobble factor*, $a * b * c$") if not known(t, glossary_terms())] \
        == ["wobble factor"]


def test_every_glossary_term_is_used_in_the_course():
    course = "\n".join([(ROOT / "README.md").read_text()] + [source(c) for p in NOTEBOOKS for c in cells(p)]).lower()
    course = course.replace("\\", "").replace("$", "").replace("-", " ")    # $\bar\alpha_t$, $\epsilon$-prediction
    entries = re.findall(r"^\*\*([^*]+)\*\*", GLOSSARY.read_text(), re.MULTILINE)
    unused = []
    for entry in entries:
        names = [n.strip(' ."').lower().replace("-", " ") for n in re.split(r",\s*|\s+and\s+", entry.strip(" ."))]
        spelled = [n.replace("_bar", "").replace("_t", "") for n in names]          # alpha_bar_t: $\bar\alpha_t$
        if not any(n in course for n in names + spelled):
            unused.append(entry)
    assert not unused, f"glossary entries no notebook or README uses: {unused}"


def test_readme_and_notebooks_follow_the_published_address(tmp_path, monkeypatch):
    """A fork changes pyproject.toml's Repository; experiments.readme rewrites the Colab links and every REPO_URL."""
    for name in ("results", "models"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "notebooks").mkdir()
    for path in NOTEBOOKS:
        shutil.copy(path, tmp_path / "notebooks" / path.name)
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text().replace(
        readme.repo_url(), "https://github.com/a-fork/ddpm-course"))
    monkeypatch.setattr(readme, "ROOT", tmp_path)
    monkeypatch.setattr(readme, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(readme, "NOTEBOOKS", tmp_path / "notebooks")
    assert readme.main(["--check"]) == 1
    assert readme.main([]) == 0 and readme.main(["--check"]) == 0
    assert "colab.research.google.com/github/a-fork/ddpm-course/blob/main/notebooks/" in (tmp_path / "README.md").read_text()
    for path in NOTEBOOKS:
        setup = source(next(c for c in cells(tmp_path / "notebooks" / path.name) if c["cell_type"] == "code"))
        assert 'REPO_URL = "https://github.com/a-fork/ddpm-course"' in setup, path.name
    assert json.loads((tmp_path / "notebooks" / NOTEBOOKS[0].name).read_text()) != json.loads(NOTEBOOKS[0].read_text())


def test_readme_says_make_run_rewrites_the_notebooks_and_how_to_get_them_back():
    text = " ".join((ROOT / "README.md").read_text().split())
    assert "`make run` overwrites the outputs saved in the notebooks" in text and "`git checkout notebooks/`" in text
