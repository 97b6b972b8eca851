"""Accounts for the fuzzer, through the API (API_URL from the environment).

    fuzz_accounts.py token EMAIL PASSWORD   prints the account's access token
    fuzz_accounts.py register EMAIL         registers a guest, prints its id
"""

import json
import os
import sys
import urllib.request


def post(path: str, body: dict) -> dict:
    request = urllib.request.Request(
        os.environ["API_URL"] + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


command, email = sys.argv[1], sys.argv[2]
if command == "token":
    print(post("/auth/login", {"email": email, "password": sys.argv[3]})["access_token"])
elif command == "register":
    body = {"email": email, "password": "a long enough password", "first_name": "Fuzz", "last_name": "Victim"}
    print(post("/users", body)["id"])
else:
    sys.exit(f"unknown command {command!r}")
