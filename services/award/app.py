"""The award service: live Paritrana indicators, rankings and the ops dashboard."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.award.api import STATIC, router
from services.award.consumers import IndicatorsFeed, handle_batch
from services.award.domain import IndicatorConfig, parse_config
from services.award.models import key_actions
from services.award.producers import IndicatorsPublisher
from shared.key_actions import key_actions_router
from shared.service import Runtime
from shared.settings import Settings, get_settings
from shared.topics import DECISIONS, WORKERS

MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_INDICATORS = Path(__file__).parent / "indicators.yaml"


def load_config(settings: Settings) -> IndicatorConfig:
    path = settings.award_indicators_path or DEFAULT_INDICATORS
    return parse_config(yaml.safe_load(path.read_text(encoding="utf-8")))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = Runtime("award", settings, MIGRATIONS)
    config = load_config(settings)
    publisher = IndicatorsPublisher(runtime.database, runtime.producer, runtime.clock, config,
                                    settings.award_publish_interval_seconds)
    feed = IndicatorsFeed(settings)

    runtime.consume([WORKERS.name, DECISIONS.name], functools.partial(handle_batch, runtime.database, publisher),
                    max_records=settings.award_consumer_max_records)
    runtime.add_worker(publisher)
    runtime.add_worker(feed)
    app = runtime.app([router, key_actions_router(key_actions)], title="Paritrana award",
                      description="Live Paritrana Award indicators, rankings and the ops dashboard.")
    # What the routes' dependencies (services/award/api.py) read; Runtime.app has set the clock and settings.
    app.state.indicator_config = config
    app.state.publisher = publisher
    app.state.feed = feed
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
