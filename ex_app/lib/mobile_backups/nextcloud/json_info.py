"""appinfo/info.xml as the JSON `occ app_api:app:register --json-info` takes (manual-install daemon).

One source for the app's id, version and proxy routes: `make register` and the e2e tests use this.
AppAPI maps access levels to numbers only for info.xml, so they are mapped here.

    python -m mobile_backups.nextcloud.json_info appinfo/info.xml --port 23000 --secret SECRET
"""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path

ACCESS_LEVELS = {"PUBLIC": 0, "USER": 1, "ADMIN": 2}


def json_info(info_xml: Path, port: int, secret: str, daemon: str = "manual_install") -> dict:
    info = ET.parse(info_xml).getroot()
    routes = [
        {
            "url": route.findtext("url"), "verb": route.findtext("verb"),
            "access_level": ACCESS_LEVELS[route.findtext("access_level", "USER").strip()],
            "headers_to_exclude": json.loads(route.findtext("headers_to_exclude") or "[]"),
        }
        for route in info.iterfind("external-app/routes/route")
    ]
    return {"id": info.findtext("id"), "name": info.findtext("name"), "daemon_config_name": daemon,
            "version": info.findtext("version"), "secret": secret, "port": port, "routes": routes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("info_xml", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--daemon", default="manual_install")
    args = parser.parse_args()
    print(json.dumps(json_info(args.info_xml, args.port, args.secret, args.daemon)))


if __name__ == "__main__":
    main()
