"""The families' pages read support's data only through support/selectors.py."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUERY_METHODS = {
    "filter", "exclude", "select_related", "prefetch_related", "order_by", "annotate",
    "aggregate", "values", "values_list", "only", "defer", "get_or_create", "in_bulk",
}  # fmt: skip


def queries_in(folder: Path) -> dict[str, list[str]]:
    """ORM reads written in a package: `.objects`, queryset methods, get_object_or_404."""
    found = {}
    for path in sorted(folder.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        hits = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "objects":
                hits.append(f"{node.lineno}: .objects")
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr in QUERY_METHODS:
                    hits.append(f"{node.lineno}: .{func.attr}()")
                elif isinstance(func, ast.Name) and func.id == "get_object_or_404":
                    hits.append(f"{node.lineno}: get_object_or_404")
        if hits:
            found[str(path.relative_to(folder.parent))] = sorted(hits)
    return found


def test_reporting_builds_no_query_of_its_own():
    assert queries_in(ROOT / "reporting") == {}


def test_the_check_finds_a_query(tmp_path):
    package = tmp_path / "reporting"
    package.mkdir()
    (package / "views.py").write_text(
        "def v(case):\n    return Case.objects.first(), case.notes.filter(x=1)\n"
    )
    assert queries_in(package) == {"reporting/views.py": ["2: .filter()", "2: .objects"]}
