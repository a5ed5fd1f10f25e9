"""The one extension point through which the apps above `support` add to its pages.

Imports go `reporting → police → takedowns → support → vault`, so support's views
may not import `takedowns` or `police`. Instead those apps register here, from their
`AppConfig.ready()` (as pretix's plugins answer its signals):

- a **case panel**: an entry of the case page's sub-navigation, rendered as its own
  page (`support:case-tab`, `cases/<case>/tab/<slug>/`) under the case's summary
  header, with its template and a function that builds its context, or returns None
  to hide it (and its page: 404) from this member;
- **case URLs**: a URL module mounted under `staff/o/<org>/cases/<case>/<prefix>/`,
  with its own namespace, so its views get `org` and `case` as the case page does;
- **dashboard figures**: a function returning rows for the dashboard's figure table;
- **case destroyers**: how rows of a model related to a case are destroyed when the
  case is (erasure, retention). Every relation of `Case` is destroyed whether or not
  a destroyer is registered; the default deletes the rows. Register one when deleting
  is not enough — files to crypto-shred, a copy held elsewhere.
- **event words**: how the staff timeline words the audit events an app records on a
  case (so no raw event code reaches a staff member).

Registries are filled once at start-up and only read afterwards; registering the
same slug twice is a programming error and fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PanelContext = Callable[..., "dict[str, Any] | None"]


@dataclass(frozen=True)
class CasePanel:
    """A section of the staff case page, with its own page and sub-navigation entry.

    `context(request=…, membership=…, case=…)` returns the template's extra context,
    or None when this member must not see the panel (the tab is then not shown).
    `order` places it among support's own tabs (Summary 10 … Timeline 90).
    `visible(membership=…, case=…)`, if given, says whether the tab shows without
    building the context: every section of the case page lists the tabs, and a
    panel's context can cost a dozen queries. It must agree with `context`
    returning None (the panel's own page still builds the context, and 404s on None).
    """

    slug: str
    label: Any  # a lazy translation
    template: str
    context: PanelContext
    order: int = 50
    visible: Callable[..., bool] | None = None


@dataclass(frozen=True)
class CaseUrls:
    """A URL module mounted under a case: `prefix` is its path, `namespace` its name space."""

    prefix: str
    module: str
    namespace: str


@dataclass(frozen=True)
class DashboardFigure:
    """One row of the dashboard's figure table: a label, a value, and an optional link."""

    label: Any
    value: Any
    url: str = ""


FiguresFunction = Callable[..., "list[DashboardFigure]"]
# destroyer(case=…, rows=…): destroy `rows` (a queryset of one model, all of this case).
CaseDestroyer = Callable[..., None]


@dataclass
class _Registry:
    panels: dict[str, CasePanel] = field(default_factory=dict)
    case_urls: dict[str, CaseUrls] = field(default_factory=dict)
    figures: list[FiguresFunction] = field(default_factory=list)
    destroyers: dict[type, CaseDestroyer] = field(default_factory=dict)
    event_words: dict[str, Any] = field(default_factory=dict)


_registry = _Registry()


def register_case_panel(panel: CasePanel) -> None:
    if panel.slug in _registry.panels:
        raise ValueError(f"case panel {panel.slug!r} is registered twice")
    _registry.panels[panel.slug] = panel


def register_case_urls(urls: CaseUrls) -> None:
    if urls.prefix in _registry.case_urls:
        raise ValueError(f"case URL prefix {urls.prefix!r} is registered twice")
    _registry.case_urls[urls.prefix] = urls


def register_dashboard_figures(function: FiguresFunction) -> None:
    _registry.figures.append(function)


def register_case_destroyer(model: type, destroyer: CaseDestroyer) -> None:
    """Say how `model`'s rows of a case are destroyed (see support.casework)."""
    if model in _registry.destroyers:
        raise ValueError(f"a case destroyer for {model.__name__} is registered twice")
    _registry.destroyers[model] = destroyer


def case_destroyer(model: type) -> CaseDestroyer | None:
    return _registry.destroyers.get(model)


def case_panels() -> list[CasePanel]:
    """Every registered panel, in page order."""
    return sorted(_registry.panels.values(), key=lambda panel: (panel.order, panel.slug))


def visible_case_panels(*, request, membership, case) -> list[tuple[CasePanel, dict[str, Any]]]:
    """(panel, context) for each panel this member may see on this case."""
    shown = []
    for panel in case_panels():
        context = panel.context(request=request, membership=membership, case=case)
        if context is not None:
            shown.append((panel, context))
    return shown


def case_panel_tabs(*, request, membership, case) -> list[CasePanel]:
    """The panels whose tab this member sees on this case, for the sub-navigation:
    by their `visible` check where they have one, else by building their context."""
    return [
        panel
        for panel in case_panels()
        if (
            panel.visible(membership=membership, case=case)
            if panel.visible is not None
            else panel.context(request=request, membership=membership, case=case) is not None
        )
    ]


def case_url_modules() -> list[CaseUrls]:
    return sorted(_registry.case_urls.values(), key=lambda urls: urls.prefix)


def dashboard_figures(*, membership) -> list[DashboardFigure]:
    rows: list[DashboardFigure] = []
    for function in _registry.figures:
        rows.extend(function(membership=membership))
    return rows


def register_event_words(words: dict[str, Any]) -> None:
    """Timeline wording (lazy translations) for an app's case events, by event code."""
    clash = set(words) & set(_registry.event_words)
    if clash:
        raise ValueError(f"event words {sorted(clash)!r} are registered twice")
    _registry.event_words.update(words)


def event_words() -> dict[str, Any]:
    return dict(_registry.event_words)
