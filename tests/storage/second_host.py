"""The second app host of tests/storage/test_two_hosts.py, run as its own process.

python -m tests.storage.second_host SETTINGS.json OUT_DIR

Its own instance folder (SETTINGS.json), the keys from DISCLOSURE_KEYS_DIR and the blob backend from
DISCLOSURE_BLOB_BACKEND (the environment, as an operator would set them), the same PostgreSQL database. It signs
in through the real forms, downloads the document and the bundle the first host stored, uploads a document of its
own, and prints what it saw as one JSON object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import select

from disclosure import create_app
from disclosure.auth.models import User
from disclosure.cases import service
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.storage.store import store_for_app
from tests.conftest import HttpsClient, sign_in


def main(settings_file: str, out_dir: str) -> None:
    given = json.loads(Path(settings_file).read_text())
    app = create_app(given["settings"])
    app.test_client_class = HttpsClient
    out = Path(out_dir)
    seen: dict[str, object] = {
        "keys_dir": app.config["KEYS_DIR"],
        "backend": store_for_app(app.config, app.instance_path).kind,
    }
    client = app.test_client()
    signed_in = sign_in(client, given["email"], given["password"], given["totp"])
    seen["signed_in"] = signed_in.status_code
    for what, url in given["downloads"].items():
        response = client.get(url)
        seen[what] = response.status_code
        (out / what).write_bytes(response.get_data())
    with app.app_context():
        actor = db.session.execute(select(User).where(User.email == given["email"])).scalar_one()
        case = db.session.execute(select(Case).where(Case.reference == given["upload_to"])).scalar_one()
        document = service.add_document(actor, case, "correspondence", given["upload"].encode(), "from-b.txt", None)
        db.session.commit()
        seen["uploaded"] = document.id
        db.session.remove()
        db.engine.dispose()
    print(json.dumps(seen))


if __name__ == "__main__":
    main(*sys.argv[1:3])
