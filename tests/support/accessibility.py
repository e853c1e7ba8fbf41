"""axe-core in a Playwright page: the serious and critical WCAG 2.x A/AA violations it finds.

The script is run with ``page.evaluate`` (the DevTools protocol), not added as a ``<script>``
tag: the app's Content-Security-Policy allows only its own scripts and nonced inline ones,
so an added tag would be refused on exactly the pages worth checking. The archive's policy
goes further (``sandbox`` without scripts), under which even an evaluation never returns:
the pages checked must be opened in a browser context made with ``bypass_csp=True``, which
only the accessibility tests use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from playwright.sync_api import Page

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
RUN = """async (tags) => {
    const results = await axe.run(document, {runOnly: {type: "tag", values: tags}});
    return results.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
        summary: (v.nodes[0] && v.nodes[0].failureSummary) || "",
    }));
}"""


@dataclass(frozen=True)
class Violation:
    """One axe rule broken on a page: its id, impact, help text and the first elements."""

    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]
    summary: str

    def __str__(self) -> str:
        first = self.summary.splitlines()[1].strip() if "\n" in self.summary else self.summary
        return f"{self.impact} {self.rule}: {self.help} at {', '.join(self.targets)} ({first})"


@cache
def _source() -> str:
    return AXE.read_text(encoding="utf-8")


def violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[Violation]:
    """Run axe-core's WCAG 2.x A/AA rules on the page as it is; the violations of ``impacts``."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_source())
    found = page.evaluate(RUN, WCAG_TAGS)
    return [
        Violation(v["id"], v["impact"], v["help"], tuple(v["targets"]), v["summary"])
        for v in found
        if v["impact"] in impacts
    ]
