"""Mobile Backups ExApp: wires the organiser into AppAPI. The work is in `mobile_backups`."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from nc_py_api import AsyncNextcloudApp
from nc_py_api.ex_app import AppAPIAuthMiddleware, persistent_storage, run_app, set_handlers

from mobile_backups.nextcloud.app import App
from mobile_backups.nextcloud.routes import STATE, router
from mobile_backups.nextcloud.signature import checked_once
from mobile_backups.nextcloud.rules_routes import router as rules_router

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


@asynccontextmanager
async def lifespan(_: FastAPI):
    app = App.from_environment(Path(persistent_storage()))
    STATE["app"] = app
    app.start()
    yield
    app.stop()


APP = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
APP.add_middleware(checked_once(AppAPIAuthMiddleware))  # every route but /heartbeat needs AppAPI's signature
APP.include_router(router)
APP.include_router(rules_router)


async def enabled_handler(enabled: bool, _: AsyncNextcloudApp) -> str:
    """AppAPI enables or disables the app: (un)register webhooks and UI entries; on enable, sweep."""
    app = STATE["app"]
    return await (app.enable() if enabled else app.disable())


set_handlers(APP, enabled_handler)


if __name__ == "__main__":
    run_app(APP, log_level="info")
