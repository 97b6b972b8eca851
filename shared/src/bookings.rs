//! Bookings: the one place that prices, creates, changes and cancels them,
//! and moves them along in time (holds expire, stays complete).
//!
//! Overlaps are never checked here: the `bookings_no_overlap` exclusion
//! constraint refuses them, whatever the concurrency.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Connection, PgConnection, PgExecutor, Postgres, QueryBuilder};

use crate::{
    domain::{
        BookingId, BookingStatus, CancellationPolicy, PropertyId, Quote, StayDates, StayError, UserId,
        ValidationErrors, refund_due,
    },
    error::DomainError,
    jobs::{BookingJob, EmailJob, Party, PaymentJob},
    outbox,
    pagination::{CursorTime, PageLimit},
    payments,
    policy::{self, Actor, BookingParties},
    properties, users,
};

/// How long an unpaid booking holds its dates.
pub const HOLD: chrono::Duration = chrono::Duration::minutes(30);

/// Bookings one sweep statement moves at most (callers repeat until fewer).
pub const SWEEP_BATCH: usize = 500;

/// A booking as stored, with its property's host.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Booking {
    #[sqlx(rename = "booking_id")]
    pub id: BookingId,
    pub property_id: PropertyId,
    pub guest_id: UserId,
    pub host_id: UserId,
    pub check_in: NaiveDate,
    pub check_out: NaiveDate,
    pub guests: i32,
    pub nights: i32,
    pub nightly_price: i64,
    pub nightly_subtotal: i64,
    pub cleaning_fee: i64,
    pub service_fee: i64,
    pub total_price: i64,
    pub currency: String,
    pub status: BookingStatus,
    pub cancellation_policy: CancellationPolicy,
    pub expires_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancelled_by: Option<UserId>,
    pub refund_amount: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Booking {
    pub fn parties(&self) -> BookingParties {
        BookingParties { guest_id: self.guest_id, host_id: self.host_id }
    }

    /// The status as it stands at `now`: a pending hold past its expiry is
    /// expired even before the sweep records it.
    pub fn status_at(&self, now: DateTime<Utc>) -> BookingStatus {
        match (self.status, self.expires_at) {
            (BookingStatus::Pending, Some(expiry)) if expiry <= now => BookingStatus::Expired,
            (status, _) => status,
        }
    }

    pub fn stay(&self) -> StayDates {
        StayDates::new(self.check_in, self.check_out).expect("BUG: the database keeps check_out > check_in")
    }
}

const COLUMNS: &str = "b.booking_id, b.property_id, b.guest_id, p.host_id, b.check_in, b.check_out, b.guests, \
     b.nights, b.nightly_price, b.nightly_subtotal, b.cleaning_fee, b.service_fee, b.total_price, b.currency, \
     b.status, b.cancellation_policy, b.expires_at, b.cancelled_at, b.cancelled_by, b.refund_amount, \
     b.created_at, b.updated_at";

/// What a guest asks for.
#[derive(Clone, Debug)]
pub struct BookingRequest {
    pub property_id: PropertyId,
    pub check_in: NaiveDate,
    pub check_out: NaiveDate,
    pub guests: i64,
}

fn stay_error(errors: &mut ValidationErrors, error: StayError) {
    let field = match error {
        StayError::NotAfterCheckIn | StayError::TooLong => "check_out",
        StayError::InThePast | StayError::TooFarAhead => "check_in",
    };
    errors.add(field, error.to_string());
}

fn parse_stay(
    check_in: NaiveDate,
    check_out: NaiveDate,
    guests: i64,
    today: NaiveDate,
) -> Result<(StayDates, i32), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let stay = StayDates::bookable(check_in, check_out, today).map_err(|e| stay_error(&mut errors, e)).ok();
    if !(1..=100).contains(&guests) {
        errors.add("guests", "must be between 1 and 100");
    }
    errors.into_result()?;
    Ok((stay.expect("checked"), guests as i32))
}

/// Prices a stay at `property`'s current rates and checks its size.
fn quote(property: &properties::Terms, stay: &StayDates, guests: i32) -> Result<Quote, DomainError> {
    if guests > property.max_guests {
        return Err(DomainError::invalid(
            "guests",
            format!("this property takes at most {} guests", property.max_guests),
        ));
    }
    Quote::compute(property.price_per_night, property.cleaning_fee, stay.nights())
        .ok_or_else(|| DomainError::invalid("check_out", "the stay's price is too large"))
}

/// Creates a pending hold for `guest`, priced by the server, with the
/// emails to guest and host and the hold's expiry queued alongside. Atomic
/// by itself, so it needs no transaction from the caller and joins one if
/// given. The guest's account need not have been read: a closed one is
/// [`DomainError::AccountClosed`], and nothing is written.
///
/// The common case is one statement: the hold is quoted from the listing's
/// terms in `cache` (else read without a lock), and one statement writes
/// the hold and its jobs only while the listing still has the price, policy
/// and capacity the hold was quoted from and the guest's account is open
/// (it locks both rows meanwhile). A stay whose dates are taken, terms that
/// changed or a closed account take a second pass under a lock on the
/// listing.
#[tracing::instrument(skip(conn, cache, request_id))]
pub async fn create(
    conn: &mut PgConnection,
    cache: &properties::TermsCache,
    guest: UserId,
    request: &BookingRequest,
    now: DateTime<Utc>,
    request_id: Option<&str>,
) -> Result<Booking, DomainError> {
    let (stay, guests) = parse_stay(request.check_in, request.check_out, request.guests, now.date_naive())?;
    let id = request.property_id;
    // Terms a hold cannot be quoted from may be stale: read again, the
    // answer is theirs.
    let cached = cache.get(id).and_then(|terms| Some((Hold::quote(guest, &terms, stay, guests, now).ok()?, terms)));
    let (hold, property) = match cached {
        Some(quoted) => quoted,
        None => {
            let terms =
                cache.read(id, properties::terms(&mut *conn, id).await?).ok_or(DomainError::NotFound("property"))?;
            (Hold::quote(guest, &terms, stay, guests, now)?, terms)
        }
    };
    let statement = hold.insert(&property, OnOverlap::Skip, request_id);
    if !conn.is_in_transaction() {
        if let Some(booking) = statement.fetch_optional(&mut *conn).await? {
            return Ok(booking);
        }
    } else {
        // In the caller's transaction the statement's share lock on the
        // listing would last until that ends, and two such callers could
        // then not take the listing from each other below (a deadlock): a
        // savepoint that writes nothing is rolled back, its lock with it.
        let mut savepoint = conn.begin().await?;
        match statement.fetch_optional(&mut *savepoint).await? {
            Some(booking) => {
                savepoint.commit().await?;
                return Ok(booking);
            }
            None => savepoint.rollback().await?,
        }
    }
    // The dates are taken, perhaps only by holds that lapsed, the terms
    // changed since they were read, or the account is closed. Under the
    // listing's lock, which such passes take in turn, lapsed holds free
    // their dates and the hold is written at the listing's current terms;
    // an overlap left fails on the `bookings_no_overlap` constraint.
    let mut tx = conn.begin().await?;
    let property =
        cache.read(id, properties::terms_for_update(&mut tx, id).await?).ok_or(DomainError::NotFound("property"))?;
    let hold = Hold::quote(guest, &property, stay, guests, now)?;
    expire_due_holds(&mut tx, Sweep::Property(property.id), request_id).await?;
    // Under the listing's lock the hold is written unless its guest's
    // account is closed.
    let booking = hold
        .insert(&property, OnOverlap::Fail, request_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::AccountClosed)?;
    tx.commit().await?;
    Ok(booking)
}

/// A hold about to be written.
struct Hold {
    id: BookingId,
    guest_id: UserId,
    stay: StayDates,
    guests: i32,
    quote: Quote,
    expires_at: DateTime<Utc>,
    /// Written with it: its expiry, and the emails to guest and host.
    jobs: [outbox::Entry; 3],
}

/// What an insert does when the stay overlaps a holding booking.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnOverlap {
    /// Writes nothing and returns `None`.
    Skip = 0,
    /// Fails on the `bookings_no_overlap` constraint.
    Fail = 1,
}

impl Hold {
    /// A hold of `stay` for `guest` at `property`'s terms, made at `now`.
    fn quote(
        guest: UserId,
        property: &properties::Terms,
        stay: StayDates,
        guests: i32,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        if !policy::may_book(guest, property.host_id) {
            return Err(DomainError::Forbidden("You cannot book your own property.".into()));
        }
        let quote = quote(property, &stay, guests)?;
        let id = BookingId::new();
        let expires_at = now + HOLD;
        let [to_guest, to_host] =
            outbox::Entry::to_both_parties(|to| EmailJob::BookingRequested { booking_id: id, to })?;
        let expiry = outbox::Entry::new(&BookingJob::ExpireHold { booking_id: id }, Some(expires_at))?;
        Ok(Hold { id, guest_id: guest, stay, guests, quote, expires_at, jobs: [expiry, to_guest, to_host] })
    }

    /// The text of [`insert`](Self::insert)'s statement.
    fn sql(on_overlap: OnOverlap) -> String {
        let conflict = if on_overlap == OnOverlap::Skip { "on conflict do nothing" } else { "" };
        // The returned columns are `COLUMNS`, with the host taken from
        // the property already read.
        let returning = COLUMNS.replace("p.host_id", "$15::uuid as host_id");
        let queue = outbox::Rows::insert_sql(18, "exists (select from held)");
        // `listing` is the row the hold was quoted from, if it is unchanged
        // in everything the hold takes from it; the lock keeps it so until
        // the hold commits. `guest` is the guest's account if still open
        // (`users::lock_if_open`).
        let guest = users::lock_if_open("$3");
        format!(
            "with listing as (
                 select property_id from properties
                 where property_id = $2 and deleted_at is null and host_id = $15
                   and price_per_night = $16 and cleaning_fee = $17 and currency = $12
                   and cancellation_policy = $13 and max_guests >= $6
                 for share
             ), guest as ({guest}), held as (
                 insert into bookings as b (booking_id, property_id, guest_id, check_in, check_out, guests,
                     nightly_price, nightly_subtotal, cleaning_fee, service_fee, total_price, currency,
                     cancellation_policy, expires_at)
                 select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 from listing, guest
                 {conflict}
                 returning {returning}
             ), queued as ({queue})
             select * from held"
        )
    }

    /// The statement that inserts the hold with its jobs in the outbox
    /// and returns it as read back: no row (and no jobs) when `property`
    /// changed since it was read, when the guest's account is closed, or
    /// when the stay overlaps and `on_overlap` says skip.
    fn insert<'q>(
        &'q self,
        property: &'q properties::Terms,
        on_overlap: OnOverlap,
        request_id: Option<&'q str>,
    ) -> sqlx::query::QueryAs<'q, Postgres, Booking, sqlx::postgres::PgArguments> {
        // The statement's text depends only on `on_overlap`: made once each.
        static SQL: LazyLock<[String; 2]> = LazyLock::new(|| [OnOverlap::Skip, OnOverlap::Fail].map(Hold::sql));
        let sql: &'static str = &SQL[on_overlap as usize];
        let query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(self.id)
            .bind(property.id)
            .bind(self.guest_id)
            .bind(self.stay.check_in())
            .bind(self.stay.check_out())
            .bind(self.guests)
            .bind(self.quote.nightly_price)
            .bind(self.quote.nightly_subtotal)
            .bind(self.quote.cleaning_fee)
            .bind(self.quote.service_fee)
            .bind(self.quote.total)
            .bind(&property.currency)
            .bind(property.cancellation_policy)
            .bind(self.expires_at)
            .bind(property.host_id)
            .bind(property.price_per_night)
            .bind(property.cleaning_fee);
        outbox::Rows::new(&self.jobs, request_id).bind(query)
    }
}

/// A booking by id, whoever may see it.
#[tracing::instrument(skip(executor))]
pub async fn find(executor: impl PgExecutor<'_>, id: BookingId) -> sqlx::Result<Option<Booking>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from bookings b join properties p using (property_id) where b.booking_id = $1"
    )))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// Who a message about a booking goes to, as far as the message needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addressee {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

impl From<&crate::users::User> for Addressee {
    fn from(user: &crate::users::User) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
        }
    }
}

/// A booking with what a message about it names: the listing's name and
/// city, the party it is addressed to and the guest's first name (each
/// `None` when that account is erased).
#[derive(Clone, Debug)]
pub struct Correspondence {
    pub booking: Booking,
    pub property_name: String,
    pub property_city: String,
    pub recipient: Option<Addressee>,
    pub guest_first_name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct CorrespondenceRow {
    #[sqlx(flatten)]
    booking: Booking,
    property_name: String,
    property_city: String,
    recipient_id: Option<UserId>,
    recipient_email: Option<String>,
    recipient_first_name: Option<String>,
    recipient_last_name: Option<String>,
    guest_first_name: Option<String>,
}

/// A booking and what a message about it to `to` names, in one read.
#[tracing::instrument(skip(executor))]
pub async fn correspondence(
    executor: impl PgExecutor<'_>,
    id: BookingId,
    to: Party,
) -> sqlx::Result<Option<Correspondence>> {
    let row: Option<CorrespondenceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS}, p.name as property_name, p.city as property_city,
                r.user_id as recipient_id, r.email as recipient_email,
                r.first_name as recipient_first_name, r.last_name as recipient_last_name,
                g.first_name as guest_first_name
         from bookings b
         join properties p using (property_id)
         left join users r on r.user_id = (case when $2 then b.guest_id else p.host_id end) and r.deleted_at is null
         left join users g on g.user_id = b.guest_id and g.deleted_at is null
         where b.booking_id = $1"
    )))
    .bind(id)
    .bind(to == Party::Guest)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|row| {
        let recipient = match (row.recipient_id, row.recipient_email, row.recipient_first_name, row.recipient_last_name)
        {
            (Some(id), Some(email), Some(first_name), Some(last_name)) => {
                Some(Addressee { id, email, first_name, last_name })
            }
            _ => None,
        };
        Correspondence {
            booking: row.booking,
            property_name: row.property_name,
            property_city: row.property_city,
            recipient,
            guest_first_name: row.guest_first_name,
        }
    }))
}

/// A booking, locked for the rest of the transaction.
///
/// Writes to one booking find it this way, by its key alone, and check its
/// status in code. A statement that also says `status = 'pending'` may be
/// planned as a scan of the whole `bookings_pending_expiry_idx` when that
/// index's statistics date from fewer holds (70 ms a statement at 225,000
/// holds, measured): to the planner the two lookups cost the same.
///
/// The lock is `for no key update`, the one its updates take anyway: it
/// leaves alone the key-share locks with which inserts of the booking's
/// payments and reviews check their foreign key.
pub async fn find_for_update(conn: &mut PgConnection, id: BookingId) -> sqlx::Result<Option<Booking>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from bookings b join properties p using (property_id) where b.booking_id = $1 for no key update of b"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A booking `actor` may see.
pub async fn visible(executor: impl PgExecutor<'_>, actor: Actor, id: BookingId) -> Result<Booking, DomainError> {
    match find(executor, id).await? {
        Some(booking) if actor.may_see_booking(booking.parties()) => Ok(booking),
        _ => Err(DomainError::NotFound("booking")),
    }
}

/// Changes to a pending booking; `None` keeps the value.
#[derive(Clone, Debug, Default)]
pub struct BookingChange {
    pub check_in: Option<NaiveDate>,
    pub check_out: Option<NaiveDate>,
    pub guests: Option<i64>,
}

/// Moves or resizes a pending booking: re-priced at the property's current
/// rates, overlap rechecked by the constraint; the hold's expiry stays.
#[tracing::instrument(skip(conn, request_id))]
pub async fn change(
    conn: &mut PgConnection,
    actor: Actor,
    id: BookingId,
    change: &BookingChange,
    now: DateTime<Utc>,
    request_id: Option<&str>,
) -> Result<Booking, DomainError> {
    let booking = find_for_update(conn, id)
        .await?
        .filter(|b| actor.may_see_booking(b.parties()))
        .ok_or(DomainError::NotFound("booking"))?;
    if !actor.may_change_booking(booking.parties()) {
        return Err(DomainError::Forbidden("Only the guest changes a booking.".into()));
    }
    let status = booking.status_at(now);
    if status != BookingStatus::Pending {
        return Err(DomainError::conflict(
            "booking-not-pending",
            format!("Only a pending booking can change; this one is {status:?}.").to_lowercase(),
        ));
    }
    if payments::in_flight_for_booking(conn, id).await? {
        return Err(DomainError::conflict("payment-in-progress", "A payment of this booking is in progress."));
    }
    let check_in = change.check_in.unwrap_or(booking.check_in);
    let check_out = change.check_out.unwrap_or(booking.check_out);
    let guests = change.guests.unwrap_or(i64::from(booking.guests));
    let (stay, guests) = parse_stay(check_in, check_out, guests, now.date_naive())?;
    let property =
        properties::terms_for_update(conn, booking.property_id).await?.ok_or(DomainError::NotFound("property"))?;
    let quote = quote(&property, &stay, guests)?;
    expire_due_holds(conn, Sweep::Property(property.id), request_id).await?;
    let at: DateTime<Utc> = sqlx::query_scalar!(
        "update bookings set check_in = $2, check_out = $3, guests = $4, nightly_price = $5, nightly_subtotal = $6,
             cleaning_fee = $7, service_fee = $8, total_price = $9, currency = $10
         where booking_id = $1
         returning updated_at",
        id as BookingId,
        stay.check_in(),
        stay.check_out(),
        guests,
        quote.nightly_price,
        quote.nightly_subtotal,
        quote.cleaning_fee,
        quote.service_fee,
        quote.total,
        property.currency,
    )
    .fetch_one(&mut *conn)
    .await?;
    outbox::notify_parties(conn, |to| EmailJob::BookingChanged { booking_id: id, to, at }, request_id).await?;
    find(&mut *conn, id).await?.ok_or(DomainError::NotFound("booking"))
}

/// Cancels a pending or confirmed booking that has not ended: frees its
/// dates and records who cancelled, when, and the refund the policy grants
/// (paid bookings only). The row stays.
#[tracing::instrument(skip(conn, request_id))]
pub async fn cancel(
    conn: &mut PgConnection,
    actor: Actor,
    id: BookingId,
    now: DateTime<Utc>,
    request_id: Option<&str>,
) -> Result<Booking, DomainError> {
    let booking = find_for_update(conn, id)
        .await?
        .filter(|b| actor.may_see_booking(b.parties()))
        .ok_or(DomainError::NotFound("booking"))?;
    let canceller = actor.cancels_as(booking.parties()).ok_or(DomainError::NotFound("booking"))?;
    let status = booking.status_at(now);
    if !status.holds_dates() {
        return Err(DomainError::conflict(
            "booking-not-active",
            format!("This booking is already {status:?}.").to_lowercase(),
        ));
    }
    if booking.check_out <= now.date_naive() {
        return Err(DomainError::conflict("stay-over", "This stay is over; it can no longer be cancelled."));
    }
    let refund = refund_due(status, canceller, booking.cancellation_policy, booking.total_price, &booking.stay(), now);
    sqlx::query!(
        "update bookings set status = 'cancelled', cancelled_at = $2, cancelled_by = $3, refund_amount = $4,
             expires_at = null
         where booking_id = $1",
        id as BookingId,
        now,
        actor.user_id as UserId,
        refund,
    )
    .execute(&mut *conn)
    .await?;
    if refund > 0 {
        let payment_id = payments::settled_for_booking(conn, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("BUG: confirmed booking {id} has no succeeded payment"))?;
        outbox::enqueue(conn, &PaymentJob::Refund { payment_id, amount: refund }, request_id).await?;
    }
    outbox::notify_parties(conn, |to| EmailJob::BookingCancelled { booking_id: id, to }, request_id).await?;
    find(&mut *conn, id).await?.ok_or(DomainError::NotFound("booking"))
}

/// Filters of the bookings list.
#[derive(Clone, Debug, Default)]
pub struct BookingFilter {
    /// Only those where the caller is this party.
    pub party: Option<Party>,
    pub status: Option<BookingStatus>,
    pub property_id: Option<PropertyId>,
    /// Only stays overlapping `[from, to)`.
    pub dates: Option<StayDates>,
}

/// Sort key of the bookings list (newest first).
pub type BookingCursor = (CursorTime, BookingId);

/// The bookings `actor` may see, filtered, newest first, after `cursor`;
/// fetches `limit.fetch()` rows.
///
/// A caller who is both guest and host (no `party` filter) gets two
/// branches, each seeking its own index (stays booked, by guest; stays at
/// the caller's listings, by host) and merged: one `guest_id = $1 or
/// host_id = $1` condition spans two tables, so no index serves it and
/// every booking would be read and sorted.
#[tracing::instrument(skip(executor))]
pub async fn list(
    executor: impl PgExecutor<'_>,
    actor: Actor,
    filter: &BookingFilter,
    cursor: Option<BookingCursor>,
    limit: PageLimit,
) -> sqlx::Result<Vec<Booking>> {
    let mut sql = QueryBuilder::<Postgres>::new("");
    // `others_only` keeps the caller's own stays out of the host branch
    // (the guest branch lists them), so that nothing is listed twice.
    let branch = |sql: &mut QueryBuilder<Postgres>, party: Option<Party>, others_only: bool| {
        sql.push(format!("select {COLUMNS} from bookings b join properties p using (property_id) where true"));
        match party {
            Some(Party::Guest) => {
                sql.push(" and b.guest_id = ").push_bind(actor.user_id);
            }
            Some(Party::Host) => {
                sql.push(" and p.host_id = ").push_bind(actor.user_id);
            }
            None => {}
        }
        if others_only {
            sql.push(" and b.guest_id <> ").push_bind(actor.user_id);
        }
        push_list_filters(sql, filter, cursor);
        sql.push(" order by b.created_at desc, b.booking_id desc limit ").push_bind(limit.fetch());
    };
    match filter.party {
        None if !actor.is_admin() => {
            sql.push("select * from ((");
            branch(&mut sql, Some(Party::Guest), false);
            sql.push(") union all (");
            branch(&mut sql, Some(Party::Host), true);
            sql.push(")) t order by created_at desc, booking_id desc limit ").push_bind(limit.fetch());
        }
        party => branch(&mut sql, party, false),
    }
    sql.build_query_as().fetch_all(executor).await
}

/// The status, property, dates and cursor conditions of a bookings list.
fn push_list_filters(sql: &mut QueryBuilder<Postgres>, filter: &BookingFilter, cursor: Option<BookingCursor>) {
    // By the status as it stands now: a lapsed hold is expired, not pending.
    match filter.status {
        None => {}
        Some(BookingStatus::Pending) => {
            sql.push(" and b.status = 'pending' and b.expires_at > now()");
        }
        Some(BookingStatus::Expired) => {
            sql.push(" and (b.status = 'expired' or (b.status = 'pending' and b.expires_at <= now()))");
        }
        Some(status) => {
            sql.push(" and b.status = ").push_bind(status);
        }
    }
    if let Some(property) = filter.property_id {
        sql.push(" and b.property_id = ").push_bind(property);
    }
    if let Some(dates) = &filter.dates {
        sql.push(" and daterange(b.check_in, b.check_out, '[)') && daterange(")
            .push_bind(dates.check_in())
            .push(", ")
            .push_bind(dates.check_out())
            .push(", '[)')");
    }
    if let Some((created_at, id)) = cursor {
        sql.push(" and (b.created_at, b.booking_id) < (").push_bind(created_at.0).push(", ").push_bind(id).push(")");
    }
}

/// The moment a stay's check-out day begins (UTC), when it completes.
pub fn completion_due(check_out: NaiveDate) -> DateTime<Utc> {
    check_out.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Which bookings a sweep looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sweep {
    /// Every booking (the periodic sweep), a batch at a time.
    All,
    /// One property's (before a booking of it is inserted).
    Property(PropertyId),
    /// One booking (its job on the `bookings` queue, when due).
    Booking(BookingId),
}

impl Sweep {
    fn property(self) -> Option<uuid::Uuid> {
        match self {
            Self::Property(id) => Some(id.0),
            _ => None,
        }
    }
}

/// Confirms a pending booking whose payment succeeded, returning its
/// check-out day; `None`, changing nothing, when it is no longer pending.
pub async fn confirm_paid(conn: &mut PgConnection, id: BookingId) -> sqlx::Result<Option<NaiveDate>> {
    match find_for_update(conn, id).await? {
        Some(booking) if booking.status == BookingStatus::Pending => {
            sqlx::query!(
                "update bookings set status = 'confirmed', expires_at = null where booking_id = $1",
                id as BookingId
            )
            .execute(&mut *conn)
            .await?;
            Ok(Some(booking.check_out))
        }
        _ => Ok(None),
    }
}

/// Holds a pending booking whose payment failed for `window` from now, so
/// the guest can pay again; returns the new expiry, or `None`, changing
/// nothing, when it is no longer pending.
pub async fn hold_again(
    conn: &mut PgConnection,
    id: BookingId,
    window: chrono::Duration,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    match find_for_update(conn, id).await? {
        Some(booking) if booking.status == BookingStatus::Pending => sqlx::query_scalar!(
            r#"update bookings set expires_at = now() + make_interval(mins => $2) where booking_id = $1
               returning expires_at as "expires_at!""#,
            id as BookingId,
            window.num_minutes() as i32,
        )
        .fetch_one(&mut *conn)
        .await
        .map(Some),
        _ => Ok(None),
    }
}

/// Whether a booking's own job may find its move due: the hold pending and
/// lapsed (`ExpireHold`), the stay confirmed and ended (`CompleteStay`).
/// Read without a lock, which is enough to rule the move out: a booking
/// that left `pending` or `confirmed` never returns to it, every write
/// that gives a pending hold an expiry queues a job for that time (the
/// hold's insert, `hold_again`), and a confirmed stay's dates no longer
/// change. Most of these jobs find the hold paid or the stay cancelled;
/// they are spared the scoped sweep's row lock, and with it a commit that
/// waits for the WAL to reach the disk.
#[tracing::instrument(skip(executor))]
pub async fn job_may_be_due(executor: impl PgExecutor<'_>, job: &BookingJob) -> sqlx::Result<bool> {
    let (BookingJob::ExpireHold { booking_id } | BookingJob::CompleteStay { booking_id }) = *job;
    let booking = sqlx::query!(
        r#"select status as "status: BookingStatus", coalesce(expires_at <= now(), false) as "lapsed!",
                  check_out <= current_date as "ended!"
           from bookings where booking_id = $1"#,
        booking_id as BookingId,
    )
    .fetch_optional(executor)
    .await?;
    Ok(booking.is_some_and(|booking| match job {
        BookingJob::ExpireHold { .. } => booking.status == BookingStatus::Pending && booking.lapsed,
        BookingJob::CompleteStay { .. } => booking.status == BookingStatus::Confirmed && booking.ended,
    }))
}

/// Expires pending holds past their expiry among `scope` and queues the
/// guest's notice. Rows other transactions hold are skipped.
#[tracing::instrument(skip(conn, request_id))]
pub async fn expire_due_holds(
    conn: &mut PgConnection,
    scope: Sweep,
    request_id: Option<&str>,
) -> anyhow::Result<Vec<BookingId>> {
    let expired = match scope {
        // By key, then the hold's state: a statement saying `status =
        // 'pending'` next to the key may be planned as a walk through
        // every lapsed hold (see `find_for_update`).
        Sweep::Booking(id) => {
            sqlx::query_scalar!(
                r#"with target as (
                   select booking_id, status, expires_at from bookings where booking_id = $1 for no key update skip locked
               )
               update bookings b set status = 'expired', expires_at = null from target t
               where b.booking_id = t.booking_id and t.status = 'pending' and t.expires_at <= now()
               returning b.booking_id as "id: BookingId""#,
                id as BookingId,
            )
            .fetch_all(&mut *conn)
            .await?
        }
        // The listing's holding bookings (`bookings_holding_idx`), then the
        // lapsed holds among them, for the same reason: no index of a
        // listing's bookings says `status = 'pending'` alone.
        Sweep::Property(id) => {
            sqlx::query_scalar!(
                r#"with target as (
                   select booking_id, status from bookings
                   where property_id = $1 and status in ('pending', 'confirmed') and expires_at <= now()
                   for no key update skip locked
               )
               update bookings b set status = 'expired', expires_at = null from target t
               where b.booking_id = t.booking_id and t.status = 'pending'
               returning b.booking_id as "id: BookingId""#,
                id as PropertyId,
            )
            .fetch_all(&mut *conn)
            .await?
        }
        Sweep::All => {
            sqlx::query_scalar!(
                r#"with due as (
                   select booking_id from bookings
                   where status = 'pending' and expires_at <= now()
                   order by expires_at
                   limit $1
                   for no key update skip locked
               )
               update bookings b set status = 'expired', expires_at = null from due where b.booking_id = due.booking_id
               returning b.booking_id as "id: BookingId""#,
                SWEEP_BATCH as i64,
            )
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let emails = expired
        .iter()
        .map(|&booking_id| outbox::Entry::new(&EmailJob::HoldExpired { booking_id }, None))
        .collect::<anyhow::Result<Vec<_>>>()?;
    outbox::enqueue_all(conn, &emails, request_id).await?;
    if !expired.is_empty() {
        tracing::info!(count = expired.len(), "unpaid holds expired");
    }
    Ok(expired)
}

/// Completes confirmed stays among `scope` whose check-out day has come and
/// invites the guests to review them.
#[tracing::instrument(skip(conn, request_id))]
pub async fn complete_finished_stays(
    conn: &mut PgConnection,
    scope: Sweep,
    request_id: Option<&str>,
) -> anyhow::Result<Vec<BookingId>> {
    let completed = match scope {
        // By key, then the stay's state, as in `expire_due_holds`.
        Sweep::Booking(id) => {
            sqlx::query_scalar!(
                r#"with target as (
                   select booking_id, status, check_out from bookings where booking_id = $1 for no key update skip locked
               )
               update bookings b set status = 'completed' from target t
               where b.booking_id = t.booking_id and t.status = 'confirmed' and t.check_out <= current_date
               returning b.booking_id as "id: BookingId""#,
                id as BookingId,
            )
            .fetch_all(&mut *conn)
            .await?
        }
        _ => {
            sqlx::query_scalar!(
                r#"with due as (
                   select booking_id from bookings
                   where status = 'confirmed' and check_out <= current_date and ($1::uuid is null or property_id = $1)
                   order by check_out
                   limit $2
                   for no key update skip locked
               )
               update bookings b set status = 'completed' from due where b.booking_id = due.booking_id
               returning b.booking_id as "id: BookingId""#,
                scope.property(),
                SWEEP_BATCH as i64,
            )
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let emails = completed
        .iter()
        .map(|&booking_id| outbox::Entry::new(&EmailJob::ReviewInvitation { booking_id }, None))
        .collect::<anyhow::Result<Vec<_>>>()?;
    outbox::enqueue_all(conn, &emails, request_id).await?;
    if !completed.is_empty() {
        tracing::info!(count = completed.len(), "stays completed");
    }
    Ok(completed)
}
