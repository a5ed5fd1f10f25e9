"""Fixtures for takedown tests: the group's settings, a case and its takedown facts."""

from __future__ import annotations

import pytest

from takedowns import services
from tests.takedowns.helpers import make_case


@pytest.fixture
def group_settings(coordinator):
    return services.save_settings(
        acting=coordinator,
        data={"inbox_email": "casos@grupo.example", "notifier_name": "Grupo X"},
    )


@pytest.fixture
def case(org_x, coordinator, group_settings):
    case = make_case(org_x)
    case.assignee = coordinator
    case.save(update_fields=["assignee"])
    return case


@pytest.fixture
def facts(case, coordinator):
    return services.save_case_facts(
        acting=coordinator,
        case=case,
        data={
            "signature": "/s/ Ana Pérez Gómez",
            "circumstances": "Compañeros de clase crearon la imagen con una aplicación.",
            "means_of_spread": "Un canal de Telegram y una cuenta de Instagram.",
            "prior_actions_answered": True,
            "prior_actions": "Denuncia ante la Policía Nacional el 20 de septiembre.",
            "vulnerabilities": ["harassment"],
        },
    )
