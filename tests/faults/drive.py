#!/usr/bin/env python3
"""HTTP load, probes and checks for tests/faults/run.sh, on Python's standard library only.

run.sh starts, kills and restarts the processes; each subcommand here is one step of a
scenario: it talks to the API and the Stripe stand-in over HTTP, reads the SMTP catcher's
Maildir and asks PostgreSQL through psql. A failed check prints one line saying what was
expected and what was found, and exits non-zero.

State passes between steps in JSON files: `market` writes the accounts, listings and bookings
it made, `pay` adds the payments, `load` writes every request it sent with its answer.
"""

import argparse
import collections
import concurrent.futures
import datetime
import email
import email.policy
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

PASSWORD = "faults harness password"
NIGHTS = 2


class Failure(Exception):
    """A check that did not hold."""


def fail(message):
    raise Failure(message)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


class Reply:
    """One answer, or the transport error in its place (status 0)."""

    def __init__(self, status, content_type, text, t0, t1):
        self.status, self.content_type, self.text, self.t0, self.t1 = status, content_type, text, t0, t1
        try:
            self.body = json.loads(text) if text else None
        except ValueError:
            self.body = None

    @property
    def is_problem(self):
        """An RFC 9457 problem whose `status` is the response's."""
        return (
            self.content_type.startswith("application/problem+json")
            and isinstance(self.body, dict)
            and self.body.get("status") == self.status
            and "title" in self.body
        )


class Api:
    """One base URL. Each request has a connection of its own (no stale keep-alive to retry,
    so a write is never sent twice) and at most `timeout` seconds."""

    def __init__(self, base, timeout=10.0):
        url = urllib.parse.urlsplit(base)
        self.base, self.host, self.port, self.timeout = base, url.hostname, url.port, timeout

    def call(self, method, path, body=None, token=None, headers=None):
        payload = json.dumps(body).encode() if body is not None else None
        sent = {"Connection": "close", "Accept": "application/json"}
        if payload is not None:
            sent["Content-Type"] = "application/json"
        if token:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        t0 = time.time()
        try:
            conn.request(method, path, payload, sent)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            status, content_type = response.status, response.getheader("content-type", "")
        except (OSError, http.client.HTTPException) as error:
            status, content_type, text = 0, "", f"{type(error).__name__}: {error}"
        finally:
            conn.close()
        return Reply(status, content_type, text, t0, time.time())

    def expect(self, status, method, path, body=None, token=None, headers=None):
        reply = self.call(method, path, body, token, headers)
        if reply.status != status:
            fail(f"{method} {self.base}{path}: expected {status}, got {reply.status}: {reply.text[:300]}")
        return reply.body


def parallel(function, items, workers):
    """`function` over `items` on `workers` threads; an exception fails the step."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))


# ---------------------------------------------------------------------------
# The marketplace: accounts, listings, bookings, payments
# ---------------------------------------------------------------------------


def load_json(path):
    with open(path) as file:
        return json.load(file)


def save_json(path, value):
    with open(path + ".tmp", "w") as file:
        json.dump(value, file)
    os.replace(path + ".tmp", path)


def register(api, user):
    api.expect(
        201,
        "POST",
        "/users",
        {
            "email": user["email"],
            "password": PASSWORD,
            "first_name": user["first_name"],
            "last_name": "Faults",
            "role": user["role"],
        },
    )
    user["token"] = api.expect(200, "POST", "/auth/login", {"email": user["email"], "password": PASSWORD})[
        "access_token"
    ]
    return user


def listing(name):
    return {
        "name": name,
        "description": "A listing made by the fault-injection run",
        "address": "1 Rua do Teste",
        "city": "Porto",
        "country": "Portugal",
        "price_per_night": 10_000,
        "cleaning_fee": 2_500,
        "currency": "EUR",
        "max_guests": 4,
        "bedrooms": 1,
        "bathrooms": 1,
        "amenities": ["wifi"],
        "photos": ["https://example.com/faults.jpg"],
        "cancellation_policy": "moderate",
    }


def stay_dates(offset):
    check_in = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)
    return check_in.isoformat(), (check_in + datetime.timedelta(days=NIGHTS)).isoformat()


def book(api, guest, prop, offset):
    """POST /bookings of `prop` for `guest`, two nights from `offset` days ahead; returns the
    answer and the stay asked for (with its booking id when made)."""
    check_in, check_out = stay_dates(offset)
    body = {"property_id": prop["id"], "check_in": check_in, "check_out": check_out, "guests": 2}
    reply = api.call("POST", "/bookings", body, guest["token"])
    stay = {
        "name": prop["name"],
        "guest": guest["email"],
        "host": prop["host"],
        "check_in": check_in,
        "check_out": check_out,
    }
    if reply.status == 201:
        stay["booking_id"] = reply.body["id"]
    return reply, stay


def cmd_market(args):
    """Hosts, guests, one listing per stay and, unless --no-bookings, one booking per listing."""
    apis = [Api(url) for url in args.api]
    hosts = [
        {"email": f"host{i}-{args.tag}@example.com", "first_name": f"Host{i}", "role": "host"}
        for i in range(args.hosts)
    ]
    guests = [
        {"email": f"guest{i}-{args.tag}@example.com", "first_name": f"Guest{i}", "role": "guest"}
        for i in range(args.guests)
    ]
    users = hosts + guests
    parallel(lambda iu: register(apis[iu[0] % len(apis)], iu[1]), list(enumerate(users)), 4)

    def create(i):
        host = hosts[i % len(hosts)]
        name = f"Faults stay {args.tag} #{i:04d}"
        made = apis[i % len(apis)].expect(201, "POST", "/properties", listing(name), host["token"])
        return {"id": made["id"], "name": name, "host": host["email"]}

    properties = parallel(create, range(args.listings), args.concurrency)
    stays = []
    if not args.no_bookings:
        # Listing i is booked once, by guest i mod G: no guest books a listing twice.
        def booking(i):
            reply, stay = book(apis[i % len(apis)], guests[i % len(guests)], properties[i], args.days_ahead)
            if reply.status != 201:
                fail(f"POST /bookings for listing {i}: expected 201, got {reply.status}: {reply.text[:300]}")
            return stay

        stays = parallel(booking, range(len(properties)), args.concurrency)
    save_json(args.out, {"tag": args.tag, "users": users, "properties": properties, "stays": stays})
    print(
        f"market: {len(hosts)} hosts, {len(guests)} guests, {len(properties)} listings, {len(stays)} bookings"
    )


def cmd_pay(args):
    """POST /payments for every booking of the market (202 each), spread over the APIs."""
    state = load_json(args.state)
    apis = [Api(url) for url in args.api]
    tokens = {u["email"]: u["token"] for u in state["users"]}

    def pay(i):
        stay = state["stays"][i]
        paid = apis[i % len(apis)].expect(
            202,
            "POST",
            "/payments",
            {"booking_id": stay["booking_id"]},
            tokens[stay["guest"]],
            {"Idempotency-Key": f"faults-{stay['booking_id']}"},
        )
        if paid.get("status") != "pending":
            fail(f"a new payment should be pending: {paid}")
        stay["payment_id"] = paid["id"]

    started = time.time()
    parallel(pay, range(len(state["stays"])), args.concurrency)
    save_json(args.state, state)
    print(f"pay: {len(state['stays'])} payments accepted (202) in {time.time() - started:.1f} s")


# ---------------------------------------------------------------------------
# PostgreSQL (through psql) and the Stripe stand-in
# ---------------------------------------------------------------------------


def psql(url, sql):
    out = subprocess.run(
        ["psql", url, "-XtAq", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        fail(f"psql: {out.stderr.strip()}")
    return [line.split("|") for line in out.stdout.splitlines() if line]


def standin(base, what):
    reply = Api(base).call("GET", f"/_standin/{what}")
    if reply.status != 200:
        fail(f"GET /_standin/{what}: {reply.status} {reply.text[:200]}")
    return reply.body


def cmd_settle(args):
    """Waits until every payment of the market succeeded and every booking is confirmed, then
    checks the stand-in: one succeeded PaymentIntent and one charge per payment, the ones the
    database recorded."""
    state = load_json(args.state)
    payments = {s["payment_id"] for s in state["stays"]}
    bookings = {s["booking_id"] for s in state["stays"]}
    since = args.since or time.time()
    deadline = time.time() + args.timeout
    while True:
        rows = psql(
            args.db,
            "select (select count(*) from payments where status = 'succeeded'),"
            " (select count(*) from bookings where status = 'confirmed')",
        )
        succeeded, confirmed = int(rows[0][0]), int(rows[0][1])
        if succeeded >= len(payments) and confirmed >= len(bookings):
            break
        if time.time() > deadline:
            statuses = psql(args.db, "select status, count(*) from payments group by 1 order by 1")
            fail(
                f"after {args.timeout} s: {succeeded}/{len(payments)} payments succeeded, "
                f"{confirmed}/{len(bookings)} bookings confirmed (payments by status: {statuses})"
            )
        time.sleep(0.2)
    elapsed = time.time() - since

    recorded = dict(
        psql(args.db, "select payment_id, provider_reference from payments where status = 'succeeded'")
    )
    if set(recorded) != payments:
        fail(f"succeeded payments {sorted(set(recorded) ^ payments)[:5]}… differ from the ones paid")
    confirmed = {
        row[0] for row in psql(args.db, "select booking_id from bookings where status = 'confirmed'")
    }
    if confirmed != bookings:
        fail(f"confirmed bookings differ from the ones paid: {sorted(confirmed ^ bookings)[:5]}")
    intents = standin(args.standin, "payment_intents")
    per_payment = collections.Counter(pi["metadata"].get("payment_id") for pi in intents)
    twice = [p for p, n in per_payment.items() if n > 1]
    if twice:
        fail(f"{len(twice)} payments have more than one PaymentIntent, e.g. {twice[0]}")
    if set(per_payment) != payments:
        fail(f"PaymentIntents at the stand-in ({len(per_payment)}) are not one per payment ({len(payments)})")
    if any(pi["status"] != "succeeded" for pi in intents):
        fail(f"a PaymentIntent did not succeed: {[pi['status'] for pi in intents]}")
    references = {pi["metadata"]["payment_id"]: pi["id"] for pi in intents}
    wrong = [p for p in payments if recorded[p] != references[p]]
    if wrong:
        fail(f"{len(wrong)} payments record another PaymentIntent than the stand-in made, e.g. {wrong[0]}")
    charges = standin(args.standin, "charges")
    paid = [c for c in charges if c.get("status") == "succeeded"]
    if len(charges) != len(payments) or len(paid) != len(payments):
        fail(f"{len(charges)} charges ({len(paid)} succeeded) at the stand-in for {len(payments)} payments")
    print(
        f"settle: {len(payments)} payments succeeded and {len(bookings)} bookings confirmed {elapsed:.1f} s after "
        f"the start; {len(intents)} PaymentIntents, {len(charges)} charges at the stand-in"
    )
    if args.figure:
        with open(args.figure, "w") as file:
            file.write(f"{elapsed:.1f}")


def cmd_arm(args):
    """Arms a fault at the stand-in, e.g. `delay_next?ms=1500&count=1`."""
    reply = Api(args.standin).call("POST", f"/_standin/{args.control}")
    if not 200 <= reply.status < 300:
        fail(f"POST /_standin/{args.control}: {reply.status} {reply.text[:200]}")


def cmd_wait_intent(args):
    """Waits until the stand-in has `count` PaymentIntents (a charge is under way)."""
    deadline = time.time() + args.timeout
    while len(standin(args.standin, "payment_intents")) < args.count:
        if time.time() > deadline:
            fail(f"no PaymentIntent at the stand-in after {args.timeout} s")
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# Load while a fault is injected
# ---------------------------------------------------------------------------


class Load:
    """Threads sending one kind of request each, in a loop, until the stop file appears."""

    def __init__(self, args):
        self.args = args
        self.state = load_json(args.state)
        self.apis = [Api(url, args.timeout) for url in args.api]
        self.guests = [u for u in self.state["users"] if u["role"] == "guest"]
        self.records = []
        self.lock = threading.Lock()
        self.counter = collections.Counter()

    def next(self, kind):
        with self.lock:
            self.counter[kind] += 1
            return self.counter[kind] - 1

    def record(self, op, api, reply, **extra):
        with self.lock:
            self.records.append(
                {
                    "op": op,
                    "api": api.base,
                    "t0": reply.t0,
                    "t1": reply.t1,
                    "status": reply.status,
                    "problem": reply.is_problem,
                    "detail": "" if 200 <= reply.status < 300 else reply.text[:200],
                    **extra,
                }
            )

    def register(self, api):
        n = self.next("register")
        user = {
            "email": f"load{n}-{self.state['tag']}@example.com",
            "first_name": f"Load{n}",
            "role": "guest",
        }
        body = {
            "email": user["email"],
            "password": PASSWORD,
            "first_name": user["first_name"],
            "last_name": "Faults",
        }
        self.record("register", api, api.call("POST", "/users", body), user=user)

    def book(self, api):
        # Booking n: listing n mod L for guest (n div L) mod G, on later dates each round, so
        # that stays never overlap and a guest books a listing once while n < L·G.
        n = self.next("book")
        props = self.state["properties"]
        prop, round_ = props[n % len(props)], n // len(props)
        guest = self.guests[round_ % len(self.guests)]
        reply, stay = book(api, guest, prop, self.args.days_ahead + round_ * (NIGHTS + 1))
        self.record("book", api, reply, stay=stay)

    def search(self, api):
        self.record("search", api, api.call("GET", "/properties?city=Porto&limit=10"))

    def detail(self, api):
        props = self.state["properties"]
        self.record(
            "detail", api, api.call("GET", f"/properties/{props[self.next('detail') % len(props)]['id']}")
        )

    def me(self, api):
        self.record("me", api, api.call("GET", "/users/me", token=self.guests[0]["token"]))

    def thread(self, index, op):
        api = self.apis[index % len(self.apis)]
        deadline = time.time() + self.args.max_seconds
        while not os.path.exists(self.args.stop_file) and time.time() < deadline:
            getattr(self, op)(api)
            time.sleep(self.args.pause)

    def run(self):
        ops = self.args.ops.split(",")
        unknown = set(ops) - {"register", "book", "search", "detail", "me"}
        if unknown:
            fail(f"unknown load operations {unknown}")
        threads = [threading.Thread(target=self.thread, args=(i, op)) for i, op in enumerate(ops)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.records.sort(key=lambda r: r["t0"])
        save_json(self.args.out, self.records)


def cmd_load(args):
    Load(args).run()


def read_time(path):
    with open(path) as file:
        return float(file.read().strip())


def summarize(records):
    by = collections.Counter((r["op"], r["status"]) for r in records)
    return ", ".join(f"{op} {status}: {n}" for (op, status), n in sorted(by.items()))


def cmd_redis_outage(args):
    """Every request before, during and after the outage was answered with success."""
    records = load_json(args.results)
    down, up = read_time(args.down), read_time(args.up)
    bad = [r for r in records if not 200 <= r["status"] < 300]
    if bad:
        fail(f"{len(bad)} requests failed while Redis was away, e.g. {bad[0]}; all: {summarize(records)}")
    during = [r for r in records if r["t0"] >= down and r["t1"] <= up]
    ops = collections.Counter(r["op"] for r in during)
    for op in args.ops.split(","):
        if ops[op] == 0:
            fail(f"no {op} request was answered while Redis was down ({summarize(during)})")
    slowest = max(r["t1"] - r["t0"] for r in records)
    print(
        f"redis outage: {up - down:.1f} s down; {len(during)} requests answered meanwhile, all 2xx "
        f"({', '.join(f'{op} {n}' for op, n in sorted(ops.items()))}); {len(records)} in all, slowest {slowest:.2f} s"
    )
    with open(args.figure, "w") as file:
        file.write(f"{len(during)} requests answered in {up - down:.0f} s down (all 2xx)")


def cmd_postgres_outage(args):
    """Every request had an answer within its timeout: success, or a 503 problem while the
    database was away; and success again, by itself, soon after it came back."""
    records = load_json(args.results)
    down, up = read_time(args.down), read_time(args.up)
    unanswered = [r for r in records if r["status"] == 0]
    if unanswered:
        fail(f"{len(unanswered)} requests got no answer within {args.timeout} s, e.g. {unanswered[0]}")
    slowest = max(r["t1"] - r["t0"] for r in records)
    if slowest >= args.timeout:
        fail(f"a request took {slowest:.1f} s")
    wrong = [r for r in records if not (200 <= r["status"] < 300 or (r["status"] == 503 and r["problem"]))]
    if wrong:
        fail(
            f"{len(wrong)} answers were neither a success nor a 503 problem+json, e.g. {wrong[0]}; {summarize(records)}"
        )
    # An outage's 503 says so; any other (a transaction PostgreSQL rolled back for a
    # concurrent one, say) is a fault of its own, not part of the outage.
    other = [r for r in records if r["status"] == 503 and "The database is unavailable" not in r["detail"]]
    if other:
        fail(f"{len(other)} answers were 503 for another reason than the outage, e.g. {other[0]}")
    before = [r for r in records if r["t1"] < down]
    if not before or any(not 200 <= r["status"] < 300 for r in before):
        fail(f"requests before the outage should all succeed: {summarize(before)}")
    unavailable = [r for r in records if r["status"] == 503]
    if not unavailable:
        fail(f"no request met the outage: {summarize(records)}")
    # Recovered: every request sent after the last 503 succeeded, the first of them within
    # --max-recovery seconds of PostgreSQL's return.
    last_503 = max(r["t1"] for r in unavailable)
    after = [r for r in records if r["t0"] > last_503]
    if len(after) < args.min_after:
        fail(
            f"only {len(after)} requests after the last 503; the API may not have recovered ({summarize(records)})"
        )
    recovered = min(r["t1"] for r in after)
    recovery = max(0.0, recovered - up)
    if recovery > args.max_recovery:
        fail(f"the API answered successfully again only {recovery:.1f} s after PostgreSQL was back")
    ops = collections.Counter(r["op"] for r in after)
    slow503 = max(r["t1"] - r["t0"] for r in unavailable)
    print(
        f"postgres outage: {up - down:.1f} s down; {len(unavailable)} answers 503 problem+json "
        f"(slowest {slow503:.1f} s), none unanswered, slowest request {slowest:.1f} s; "
        f"successes again {recovery:.1f} s after PostgreSQL was back ({len(after)} requests since, all 2xx: "
        f"{', '.join(f'{op} {n}' for op, n in sorted(ops.items()))})"
    )
    with open(args.figure, "w") as file:
        file.write(
            f"{len(unavailable)} x 503 problem+json in {up - down:.0f} s down (slowest {slow503:.1f} s),"
            f" recovered {recovery:.1f} s after restart"
        )


# ---------------------------------------------------------------------------
# Mail
# ---------------------------------------------------------------------------


def short_date(iso):
    day = datetime.date.fromisoformat(iso)
    return f"{day.day} {day.strftime('%b %Y')}"


def expected_mail(args):
    """(recipient, subject) → count, from what the API accepted. The subjects are those of
    worker/src/emails/templates.rs."""
    expected = collections.Counter()
    state = load_json(args.state)
    stays = list(state["stays"])
    registered = list(state["users"])
    for path in args.results or []:
        for r in load_json(path):
            if r["op"] == "register" and r["status"] == 201:
                registered.append(r["user"])
            if r["op"] == "book" and r["status"] == 201:
                stays.append(r["stay"])
    for user in registered:
        expected[(user["email"], f"Welcome to Airbnb Clone, {user['first_name']}")] += 1
    for stay in stays:
        name, dates = stay["name"], f"{short_date(stay['check_in'])} → {short_date(stay['check_out'])}"
        expected[(stay["guest"], f"Booking request for {name}")] += 1
        expected[(stay["host"], f"New booking request: {name}, {dates}")] += 1
        if stay.get("payment_id"):
            expected[(stay["guest"], f"Receipt for your stay at {name}")] += 1
            expected[(stay["guest"], f"Booking confirmed: {name}")] += 1
            expected[(stay["host"], f"Booking confirmed: {name}, {dates}")] += 1
    return expected


PARSED = {}  # Maildir file name → its (recipient, subject, Message-ID) rows; files never change


def received_mail(maildir):
    """(recipient, subject, Message-ID) of every message in the Maildir."""
    folder = os.path.join(maildir, "new")
    received = []
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if name not in PARSED:
            with open(os.path.join(folder, name), "rb") as file:
                message = email.message_from_binary_file(file, policy=email.policy.default)
            PARSED[name] = [
                (recipient.strip().lower(), str(message["Subject"]), str(message["Message-ID"]))
                for recipient in str(message.get("X-RcptTo", "")).split(",")
            ]
        received.extend(PARSED[name])
    return received


def cmd_mail(args):
    """Waits for every expected email, gives duplicates time to show, then compares: each
    (recipient, subject) as often as the API accepted its cause. With --repeats-allowed N, up
    to N messages may arrive a second time under the same Message-ID (one event, sent again
    because what recorded its sending was cut off: the window README's job guarantees name)."""
    expected = expected_mail(args)
    total = sum(expected.values())
    deadline = time.time() + args.timeout
    while len(set(received_mail(args.maildir))) < total:
        if time.time() > deadline:
            events = collections.Counter((r, s) for r, s, _ in set(received_mail(args.maildir)))
            missing = expected - events
            fail(
                f"{sum(events.values())}/{total} emails after {args.timeout} s; "
                f"missing {sum(missing.values())}, e.g. {list(missing)[:3]}"
            )
        time.sleep(0.25)
    time.sleep(args.settle)  # a job run twice would send its duplicate meanwhile
    received = received_mail(args.maildir)
    events = collections.Counter((r, s) for r, s, _ in set(received))
    extra, missing = events - expected, expected - events
    if extra or missing:
        fail(
            f"emails differ: {sum(extra.values())} unexpected, e.g. {list(extra)[:3]}; "
            f"{sum(missing.values())} missing, e.g. {list(missing)[:3]}"
        )
    repeats = len(received) - len(set(received))
    if repeats > args.repeats_allowed:
        copies = [m for m, n in collections.Counter(received).items() if n > 1]
        fail(f"{repeats} emails arrived twice (at most {args.repeats_allowed} allowed), e.g. {copies[:2]}")
    if args.db:
        sent = int(psql(args.db, "select count(*) from sent_emails")[0][0])
        if sent != total:
            fail(f"sent_emails records {sent} emails, the Maildir holds {total} distinct ones")
    print(
        f"mail: {total} emails, each (recipient, subject) as often as expected ({max(expected.values())} at most)"
        + (f"; {repeats} sent again under the same Message-ID" if repeats else ", none twice")
    )
    if args.figure:
        with open(args.figure, "w") as file:
            file.write(str(repeats))


# ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("market")
    p.add_argument("--api", action="append", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--hosts", type=int, default=1)
    p.add_argument("--guests", type=int, default=1)
    p.add_argument("--listings", type=int, default=1)
    p.add_argument("--no-bookings", action="store_true")
    p.add_argument("--days-ahead", type=int, default=30)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--out", required=True)
    p.set_defaults(run=cmd_market)

    p = sub.add_parser("pay")
    p.add_argument("--api", action="append", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--concurrency", type=int, default=8)
    p.set_defaults(run=cmd_pay)

    p = sub.add_parser("settle")
    p.add_argument("--state", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--standin", required=True)
    p.add_argument("--since", type=float)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--figure")
    p.set_defaults(run=cmd_settle)

    p = sub.add_parser("arm")
    p.add_argument("--standin", required=True)
    p.add_argument("control")
    p.set_defaults(run=cmd_arm)

    p = sub.add_parser("wait-intent")
    p.add_argument("--standin", required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(run=cmd_wait_intent)

    p = sub.add_parser("load")
    p.add_argument("--api", action="append", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--ops", required=True, help="one thread per comma-separated operation")
    p.add_argument("--stop-file", required=True)
    p.add_argument("--max-seconds", type=float, default=120)
    p.add_argument("--pause", type=float, default=0.05)
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--days-ahead", type=int, default=30)
    p.add_argument("--out", required=True)
    p.set_defaults(run=cmd_load)

    for name, run in (("redis-outage", cmd_redis_outage), ("postgres-outage", cmd_postgres_outage)):
        p = sub.add_parser(name)
        p.add_argument("--results", required=True)
        p.add_argument("--down", required=True)
        p.add_argument("--up", required=True)
        p.add_argument("--ops", default="")
        p.add_argument("--timeout", type=float, default=10)
        p.add_argument("--max-recovery", type=float, default=15)
        p.add_argument("--min-after", type=int, default=10)
        p.add_argument("--figure", required=True)
        p.set_defaults(run=run)

    p = sub.add_parser("mail")
    p.add_argument("--maildir", required=True)
    p.add_argument("--state", required=True)
    p.add_argument("--results", action="append")
    p.add_argument("--db")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--settle", type=float, default=4)
    p.add_argument("--repeats-allowed", type=int, default=0)
    p.add_argument("--figure")
    p.set_defaults(run=cmd_mail)

    args = parser.parse_args()
    try:
        args.run(args)
    except Failure as failure:
        print(f"FAILED ({args.command}): {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
