"""The main flow of the marketplace through the Python client generated from
openapi/openapi.json, against the running system (tests/contract/run.sh):
register, sign in, list and search, book, pay (the worker charges the card
at the Stripe stand-in), wait for the payment and the booking, review.

Every response is parsed by the generated models, and the client raises on
any status the document does not list, so a response the spec does not
describe fails the flow.

Environment: API_URL, DATABASE_URL (only to move the stay into the past);
FLOW_IDS, a file where the ids of what the flow made are written (the
fuzzer then works on them).
"""

import datetime
import json
import os
import subprocess
import sys
import time
import uuid

from airbnb_client import AuthenticatedClient, Client
from airbnb_client.api.auth import login
from airbnb_client.api.bookings import create_booking, get_booking, list_bookings
from airbnb_client.api.payments import create_payment, get_payment, list_payments
from airbnb_client.api.properties import create_property, get_property, search_properties
from airbnb_client.api.reviews import create_review, list_reviews
from airbnb_client.api.users import create_user, get_current_user
from airbnb_client.models import (
    Booking,
    BookingRole,
    BookingStatus,
    CancellationPolicy,
    CreateBookingRequest,
    CreatePaymentRequest,
    CreatePropertyRequest,
    CreateReviewRequest,
    CreateUserRequest,
    LoginRequest,
    Payment,
    PaymentStatus,
    Problem,
    Property,
    RegistrationRole,
    UserRole,
)
from airbnb_client.types import UNSET

API_URL = os.environ["API_URL"]
PASSWORD = "a long enough password"
RUN = uuid.uuid4().hex[:8]


def step(message: str) -> None:
    print(f"  sdk: {message}", flush=True)


def expect(response, status: int):
    """The parsed body of a `sync_detailed` response that must have `status`."""
    body = response.parsed
    detail = body.to_dict() if hasattr(body, "to_dict") else response.content[:500]
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {detail}"
    assert not isinstance(body, Problem), f"a problem with status {status}: {detail}"
    return body


def anonymous() -> Client:
    return Client(base_url=API_URL, raise_on_unexpected_status=True, timeout=10.0)


def sign_up(role: RegistrationRole, first_name: str) -> AuthenticatedClient:
    email = f"{first_name.lower()}-{RUN}@example.com"
    body = CreateUserRequest(email=email, password=PASSWORD, first_name=first_name, last_name="Contract", role=role)
    user = expect(create_user.sync_detailed(client=anonymous(), body=body), 201)
    assert user.role.value == role.value and user.email == email, user
    tokens = expect(login.sync_detailed(client=anonymous(), body=LoginRequest(email=email, password=PASSWORD)), 200)
    assert tokens.token_type == "Bearer" and tokens.expires_in > 0, tokens
    client = AuthenticatedClient(
        base_url=API_URL, token=tokens.access_token, raise_on_unexpected_status=True, timeout=10.0
    )
    me = expect(get_current_user.sync_detailed(client=client), 200)
    assert me.id == user.id and me.role == UserRole(role.value), me
    step(f"{role.value} {email} registered and signed in")
    return client


def wait_for(what: str, read, done, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            sys.exit(f"sdk: {what} did not happen within {seconds:.0f} s; last seen: {value.to_dict()}")
        time.sleep(0.2)


def move_stay_into_the_past(booking: Booking) -> None:
    """Nothing but time ends a stay, so the booking's dates are moved to the
    past in the database, keeping its length (the stored price stays right),
    as the Rust tests' `ended_stay` fixture does."""
    nights = (booking.check_out - booking.check_in).days
    sql = (
        "update bookings set check_in = current_date - 1 - :nights, check_out = current_date - 1"
        " where booking_id = :'booking_id'"
    )
    subprocess.run(
        ["psql", os.environ["DATABASE_URL"], "-q", "-v", "ON_ERROR_STOP=1",
         "-v", f"nights={nights}", "-v", f"booking_id={booking.id}"],
        input=sql, text=True, check=True,
    )


def main() -> None:
    host = sign_up(RegistrationRole.HOST, "Hana")
    guest = sign_up(RegistrationRole.GUEST, "Gus")

    city = f"Contractville {RUN}"
    listing = CreatePropertyRequest(
        name="Harbour loft", description="A bright loft over the harbour", address="2 Quay Street",
        city=city, country="Portugal", price_per_night=12_000, cleaning_fee=3_000, currency="EUR",
        max_guests=3, bedrooms=1, bathrooms=1, amenities=["wifi", "kitchen"],
        photos=["https://example.com/loft.jpg"], cancellation_policy=CancellationPolicy.FLEXIBLE,
    )
    listed = expect(create_property.sync_detailed(client=host, body=listing), 201)
    assert isinstance(listed, Property) and listed.rating_average is None and listed.review_count == 0, listed
    step(f"host listed property {listed.id}")

    check_in = datetime.date.today() + datetime.timedelta(days=30)
    check_out = check_in + datetime.timedelta(days=3)
    found = expect(
        search_properties.sync_detailed(
            client=anonymous(), city=city, guests=2, amenities=["wifi"], check_in=check_in, check_out=check_out
        ),
        200,
    )
    assert [p.id for p in found.items] == [listed.id], found
    assert expect(search_properties.sync_detailed(client=anonymous(), limit=1), 200).items, "the list is empty"
    assert expect(get_property.sync_detailed(listed.id, client=guest), 200).name == listing.name
    step("guest found it by city, guests, amenity and free dates")

    stay = CreateBookingRequest(property_id=listed.id, check_in=check_in, check_out=check_out, guests=2)
    key = f"contract-booking-{RUN}"
    booking = expect(create_booking.sync_detailed(client=guest, body=stay, idempotency_key=key), 201)
    assert booking.status == BookingStatus.PENDING and booking.nights == 3, booking
    assert booking.nightly_subtotal == 3 * 12_000 and booking.cleaning_fee == 3_000, booking
    assert booking.total_price == booking.nightly_subtotal + booking.cleaning_fee + booking.service_fee, booking
    replayed = create_booking.sync_detailed(client=guest, body=stay, idempotency_key=key)
    assert expect(replayed, 201).id == booking.id and replayed.headers.get("idempotent-replayed") == "true"
    step(f"guest booked {booking.id}: {booking.total_price} {booking.currency}, pending until paid")

    accepted = create_payment.sync_detailed(
        client=guest, body=CreatePaymentRequest(booking_id=booking.id, payment_method="pm_card_visa"),
        idempotency_key=f"contract-payment-{RUN}",
    )
    payment = expect(accepted, 202)
    assert accepted.headers.get("location") == f"/payments/{payment.id}", accepted.headers
    assert payment.amount == booking.total_price and payment.status == PaymentStatus.PENDING, payment
    paid = wait_for(
        "the payment succeeding",
        lambda: expect(get_payment.sync_detailed(payment.id, client=guest), 200),
        lambda p: p.status not in (PaymentStatus.PENDING, PaymentStatus.PROCESSING),
    )
    assert isinstance(paid, Payment) and paid.status == PaymentStatus.SUCCEEDED, paid.to_dict()
    assert paid.provider_reference and paid.failure_reason in (None, UNSET), paid.to_dict()
    confirmed = wait_for(
        "the booking being confirmed",
        lambda: expect(get_booking.sync_detailed(booking.id, client=guest), 200),
        lambda b: b.status != BookingStatus.PENDING,
    )
    assert confirmed.status == BookingStatus.CONFIRMED and confirmed.expires_at in (None, UNSET), confirmed.to_dict()
    seen_by_host = expect(list_payments.sync_detailed(client=host, booking_id=booking.id), 200)
    assert [p.id for p in seen_by_host.items] == [payment.id], seen_by_host
    hosted = expect(list_bookings.sync_detailed(client=host, role=BookingRole.HOST), 200)
    assert [b.id for b in hosted.items] == [booking.id], hosted
    step(f"worker charged {paid.provider_reference} at the Stripe stand-in; booking confirmed")

    move_stay_into_the_past(confirmed)
    review = expect(
        create_review.sync_detailed(
            client=guest, body=CreateReviewRequest(booking_id=booking.id, rating=5, comment="Lovely light")
        ),
        201,
    )
    assert review.property_id == listed.id and review.rating == 5, review
    rated = expect(get_property.sync_detailed(listed.id, client=anonymous()), 200)
    assert rated.rating_average == 5.0 and rated.review_count == 1, rated
    reviews = expect(list_reviews.sync_detailed(client=anonymous(), property_id=listed.id), 200)
    assert [r.id for r in reviews.items] == [review.id], reviews
    step(f"guest reviewed the stay once it had ended; rating {rated.rating_average}")

    if "FLOW_IDS" in os.environ:
        ids = {"property_id": listed.id, "booking_id": booking.id, "payment_id": payment.id, "review_id": review.id}
        with open(os.environ["FLOW_IDS"], "w") as out:
            json.dump({name: str(value) for name, value in ids.items()}, out)


if __name__ == "__main__":
    main()
