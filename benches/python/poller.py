"""The baseline of `cargo bench --bench cost`: a plain Python poller, stdlib only.

What the open-source pollers do (Python scripts, Sekoia-style connectors): a client-credentials
token, each stream's collection paged 1,000 at a time with a time `$filter` and the nextLinks,
`json.loads` per page, a small summary plus the record per event, `json.dumps` per line to
stdout. No state, no dedup, no retries: the cheapest honest poller, so the ratio flatters it.

Usage: poller.py BASE_URL TENANT CLIENT_ID CLIENT_SECRET SINCE_ISO
Prints the number of records to stderr at the end.
"""

import json
import sys
import urllib.parse
import urllib.request
from datetime import datetime, timezone

base, tenant, client_id, secret, since = sys.argv[1:6]

form = urllib.parse.urlencode({
    "grant_type": "client_credentials",
    "client_id": client_id,
    "client_secret": secret,
    "scope": base + "/.default",
}).encode()
with urllib.request.urlopen(f"{base}/{tenant}/oauth2/v2.0/token", form) as r:
    token = json.load(r)["access_token"]

out = sys.stdout
ingested = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
records = 0
streams = [
    ("directory_audits", "/v1.0/auditLogs/directoryAudits", "activityDateTime",
     "activityDisplayName"),
    ("sign_ins", "/v1.0/auditLogs/signIns", "createdDateTime", "appDisplayName"),
]
for name, path, field, action in streams:
    query = urllib.parse.urlencode({
        "$filter": f"{field} ge {since}",
        "$orderby": f"{field} asc",
        "$top": "1000",
    })
    url = f"{base}{path}?{query}"
    while url:
        req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req) as r:
            page = json.loads(r.read())
        for rec in page["value"]:
            event = {
                "event": {
                    "id": rec.get("id"),
                    "category": "identity",
                    "dataset": "entra." + name,
                    "action": rec.get(action),
                    "tenant_id": tenant,
                    "ingested": ingested,
                },
                "time": rec.get(field),
                "properties": rec,
            }
            out.write(json.dumps(event) + "\n")
            records += 1
        url = page.get("@odata.nextLink")
out.flush()
print(records, file=sys.stderr)
