"""axe-core in the page under test: the serious and critical WCAG 2.2 AA violations."""

from axe_playwright_python.sync_playwright import Axe

WCAG = {"runOnly": ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]}


def axe_problems(page) -> list:
    results = Axe().run(page, options=WCAG)
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
