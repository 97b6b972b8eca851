//! Bookings' emails and the sweeper end to end: rows written as the booking
//! routes write them, jobs through the outbox, Redis and the worker, and the
//! emails read back from a real SMTP server.

mod mail;

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use secrecy::SecretString;
use shared::{
    bookings::{self, Sweep},
    domain::{BookingId, BookingStatus, PropertyId, Quote, UserId},
    jobs::{BookingJob, EmailJob, Job, Party, Queues},
    outbox::Relay,
};
use testkit::{SmtpCatcher, TestApp, TestWorker, index_entries_read};
use tokio_util::sync::CancellationToken;
use worker::{
    emails::{EmailDeps, send_once},
    mailer::Mailer,
    sweeper,
};

use mail::Mail;

const PASSWORD: &str = "a long enough password";
const NIGHTLY: i64 = 10_000; // 100.00 EUR
const CLEANING: i64 = 2_500;
const WAIT: Duration = Duration::from_secs(20);

struct Account {
    id: UserId,
    email: String,
}

/// Where a booking row stands when inserted.
enum State {
    Pending { expires_at: DateTime<Utc> },
    Confirmed,
    Cancelled { by: UserId, refund: i64 },
}

/// An API and an SMTP catcher on a fresh database; a guest, and a host with
/// one listing. The worker starts when a test says so.
struct World {
    smtp: SmtpCatcher,
    app: TestApp,
    guest: Account,
    host: Account,
    property: PropertyId,
    property_name: &'static str,
    /// The database's `current_date`, which the sweeper compares with.
    today: NaiveDate,
}

impl World {
    async fn new() -> Self {
        Self::with_outbox_poll(None).await
    }

    /// A world whose relays poll the outbox only this often (they still
    /// push at once when woken).
    async fn with_outbox_poll(poll: Option<Duration>) -> Self {
        let smtp = SmtpCatcher::start();
        let app = TestApp::spawn_with(|c| {
            c.smtp_url = SecretString::from(smtp.url());
            if let Some(poll) = poll {
                c.outbox_poll_interval = poll;
            }
        })
        .await;
        let guest = register(&app, "guest").await;
        let host = register(&app, "host").await;
        let property_name = "Casa <Azul> & Co";
        let property = PropertyId::new();
        sqlx::query(
            "insert into properties (property_id, host_id, name, address, city, country, price_per_night,
                 cleaning_fee, currency, max_guests, cancellation_policy)
             values ($1, $2, $3, '1 Rua Direita', 'Lisboa', 'Portugal', $4, $5, 'EUR', 4, 'moderate')",
        )
        .bind(property)
        .bind(host.id)
        .bind(property_name)
        .bind(NIGHTLY)
        .bind(CLEANING)
        .execute(&app.db)
        .await
        .unwrap();
        let today = sqlx::query_scalar("select current_date").fetch_one(&app.db).await.unwrap();
        Self { smtp, app, guest, host, property, property_name, today }
    }

    fn worker(&self) -> TestWorker {
        TestWorker::spawn(self.app.config.clone())
    }

    fn day(&self, offset: i64) -> NaiveDate {
        self.today + chrono::Duration::days(offset)
    }

    /// Inserts a booking of the guest, priced as the API prices it.
    async fn book(&self, check_in: NaiveDate, nights: i64, state: State) -> BookingId {
        let quote = Quote::compute(NIGHTLY, CLEANING, nights).unwrap();
        let (status, expires_at, cancelled_by, refund) = match state {
            State::Pending { expires_at } => (BookingStatus::Pending, Some(expires_at), None, None),
            State::Confirmed => (BookingStatus::Confirmed, None, None, None),
            State::Cancelled { by, refund } => (BookingStatus::Cancelled, None, Some(by), Some(refund)),
        };
        let id = BookingId::new();
        sqlx::query(
            "insert into bookings (booking_id, property_id, guest_id, check_in, check_out, guests, nightly_price,
                 nightly_subtotal, cleaning_fee, service_fee, total_price, currency, status, cancellation_policy,
                 expires_at, cancelled_at, cancelled_by, refund_amount)
             values ($1, $2, $3, $4, $5, 2, $6, $7, $8, $9, $10, 'EUR', $11, 'moderate', $12,
                 case when $13::uuid is null then null else now() end, $13, $14)",
        )
        .bind(id)
        .bind(self.property)
        .bind(self.guest.id)
        .bind(check_in)
        .bind(check_in + chrono::Duration::days(nights))
        .bind(quote.nightly_price)
        .bind(quote.nightly_subtotal)
        .bind(quote.cleaning_fee)
        .bind(quote.service_fee)
        .bind(quote.total)
        .bind(status)
        .bind(expires_at)
        .bind(cancelled_by)
        .bind(refund)
        .execute(&self.app.db)
        .await
        .unwrap();
        id
    }

    async fn status(&self, booking: BookingId) -> BookingStatus {
        sqlx::query_scalar("select status from bookings where booking_id = $1")
            .bind(booking)
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }

    /// Writes `job` to the outbox in a transaction of its own, as a booking
    /// route would with its change.
    async fn enqueue(&self, job: &EmailJob) {
        let mut tx = self.app.db.begin().await.unwrap();
        shared::outbox::enqueue(&mut tx, job, None).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// Booking emails `to` received so far (welcome emails left out).
    fn mails_to(&self, to: &Account) -> Vec<Mail> {
        self.smtp
            .messages_to(&to.email)
            .iter()
            .map(|raw| Mail::parse(raw))
            .filter(|mail| !mail.subject.starts_with("Welcome"))
            .collect()
    }

    fn subjects_to(&self, to: &Account) -> Vec<String> {
        let mut subjects: Vec<String> = self.mails_to(to).into_iter().map(|m| m.subject).collect();
        subjects.sort();
        subjects
    }

    /// Waits for the email to `to` whose subject is `subject`.
    async fn wait_for_mail(&self, to: &Account, subject: &str, timeout: Duration) -> Option<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(mail) = self.mails_to(to).into_iter().find(|m| m.subject == subject) {
                return Some(mail);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the worker finished `count` email jobs, so that a
    /// duplicate has had its chance to be sent.
    async fn wait_for_finished_jobs(&self, count: usize) {
        self.wait_for_finished::<EmailJob>(count).await
    }

    /// Waits until the worker finished `count` jobs of `J`'s queue.
    async fn wait_for_finished<J: Job>(&self, count: usize) {
        let mut redis = shared::redis::connect(&self.app.config).unwrap();
        let done = format!("{}:done", self.app.config.redis_key(J::QUEUE));
        let deadline = Instant::now() + WAIT;
        loop {
            let finished: usize = redis::cmd("SCARD").arg(&done).query_async(&mut redis).await.unwrap();
            if finished >= count {
                assert_eq!(finished, count, "more jobs finished than were queued");
                return;
            }
            assert!(Instant::now() < deadline, "only {finished} of {count} {} jobs finished", J::QUEUE);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn sent_emails(&self) -> i64 {
        sqlx::query_scalar("select count(*) from sent_emails").fetch_one(&self.app.db).await.unwrap()
    }

    /// A relay of the test's own on the world's outbox and queues.
    fn relay(&self) -> Relay {
        let config = &self.app.config;
        let queues = Queues::new(shared::redis::connect(config).unwrap(), config);
        Relay::new(self.app.db.clone(), queues, config.outbox_poll_interval)
    }

    fn email_deps(&self) -> EmailDeps {
        EmailDeps { db: self.app.db.clone(), mailer: Mailer::new(&self.app.config).unwrap() }
    }

    /// `10 Jun 2030 → 13 Jun 2030`, as subjects show a stay.
    fn dates(&self, check_in: NaiveDate, nights: i64) -> String {
        let check_out = check_in + chrono::Duration::days(nights);
        format!("{} → {}", check_in.format("%-d %b %Y"), check_out.format("%-d %b %Y"))
    }
}

async fn register(app: &TestApp, role: &str) -> Account {
    let email = TestApp::unique_email(role);
    let user = app.register(&email, PASSWORD, role).await;
    Account { id: serde_json::from_value(user["id"].clone()).unwrap(), email }
}

#[tokio::test]
async fn request_and_change_emails_reach_guest_and_host_once_each_though_every_job_is_queued_twice() {
    let world = World::new().await;
    let worker = world.worker();
    let check_in = world.day(30);
    let booking =
        world.book(check_in, 3, State::Pending { expires_at: Utc::now() + chrono::Duration::minutes(30) }).await;
    let at = Utc::now();
    let jobs = [
        EmailJob::BookingRequested { booking_id: booking, to: Party::Guest },
        EmailJob::BookingRequested { booking_id: booking, to: Party::Host },
        EmailJob::BookingChanged { booking_id: booking, to: Party::Guest, at },
        EmailJob::BookingChanged { booking_id: booking, to: Party::Host, at },
    ];
    for job in jobs.iter().chain(&jobs) {
        world.enqueue(job).await;
    }

    world.wait_for_finished_jobs(2 + 2 * jobs.len()).await; // with the two welcome emails
    let name = world.property_name;
    let dates = world.dates(check_in, 3);
    assert_eq!(
        world.subjects_to(&world.guest),
        [format!("Booking request for {name}"), format!("Your booking for {name} changed")],
    );
    assert_eq!(
        world.subjects_to(&world.host),
        [format!("A booking for {name} changed: {dates}"), format!("New booking request: {name}, {dates}")],
    );
    assert_eq!(world.sent_emails().await, 2 + 4);

    let to_guest = world.mails_to(&world.guest).into_iter().find(|m| m.subject.starts_with("Booking request")).unwrap();
    assert!(to_guest.text.contains("you asked to stay at Casa <Azul> & Co in Lisboa"), "{}", to_guest.text);
    assert!(to_guest.text.contains("Total: 367.00 EUR"), "3 × 100 + 25 cleaning + 42 service: {}", to_guest.text);
    assert!(to_guest.html.contains("Casa &lt;Azul&gt; &amp; Co in Lisboa"), "{}", to_guest.html);
    assert!(!to_guest.html.contains("<Azul>"), "user data is escaped in HTML: {}", to_guest.html);
    let to_host = world.mails_to(&world.host).into_iter().find(|m| m.subject.starts_with("New booking")).unwrap();
    assert!(to_host.text.starts_with("Hi Test,\n\nTest asked to stay at Casa <Azul> & Co"), "{}", to_host.text);
    worker.stop().await;
}

#[tokio::test]
async fn a_cancellation_email_tells_each_party_who_cancelled_and_the_refund_in_major_units() {
    let world = World::new().await;
    let worker = world.worker();
    let booking = world.book(world.day(30), 3, State::Cancelled { by: world.guest.id, refund: 12_345 }).await;
    world.enqueue(&EmailJob::BookingCancelled { booking_id: booking, to: Party::Guest }).await;
    world.enqueue(&EmailJob::BookingCancelled { booking_id: booking, to: Party::Host }).await;

    let subject = format!("Booking cancelled: {}", world.property_name);
    let to_guest = world.wait_for_mail(&world.guest, &subject, WAIT).await.expect("the guest is told");
    assert!(to_guest.text.contains("was cancelled by you."), "{}", to_guest.text);
    assert!(to_guest.text.contains("Refund: 123.45 EUR"), "{}", to_guest.text);
    let to_host = world.wait_for_mail(&world.host, &subject, WAIT).await.expect("the host is told");
    assert!(to_host.text.contains("was cancelled by the guest."), "{}", to_host.text);
    assert!(to_host.text.contains("Refund to the guest: 123.45 EUR"), "{}", to_host.text);
    worker.stop().await;
}

#[tokio::test]
async fn a_booking_email_to_an_erased_account_is_skipped_while_the_other_party_still_hears() {
    let world = World::new().await;
    let booking =
        world.book(world.day(30), 3, State::Pending { expires_at: Utc::now() + chrono::Duration::minutes(30) }).await;
    let mut tx = world.app.db.begin().await.unwrap();
    assert!(shared::users::erase(&mut tx, world.guest.id).await.unwrap());
    tx.commit().await.unwrap();

    let deps = world.email_deps();
    let to_guest = EmailJob::BookingRequested { booking_id: booking, to: Party::Guest };
    assert_eq!(send_once(&deps, &to_guest).await.unwrap(), "skipped: recipient no longer exists");
    let to_host = EmailJob::BookingRequested { booking_id: booking, to: Party::Host };
    assert_eq!(send_once(&deps, &to_host).await.unwrap(), "sent");

    let subject = format!("New booking request: {}, {}", world.property_name, world.dates(world.day(30), 3));
    let mail = world.wait_for_mail(&world.host, &subject, WAIT).await.expect("the host is told");
    assert!(mail.text.contains("A guest asked to stay"), "an erased guest is not named: {}", mail.text);
    assert!(world.smtp.messages_to(&world.guest.email).is_empty());
}

#[tokio::test]
async fn the_worker_expires_an_unpaid_hold_past_its_expiry_and_tells_only_the_guest() {
    let world = World::new().await;
    let lapsed =
        world.book(world.day(10), 2, State::Pending { expires_at: Utc::now() - chrono::Duration::minutes(1) }).await;
    let live =
        world.book(world.day(20), 2, State::Pending { expires_at: Utc::now() + chrono::Duration::minutes(30) }).await;

    let worker = world.worker();
    let subject = format!("Your hold on {} expired", world.property_name);
    let mail = world.wait_for_mail(&world.guest, &subject, WAIT).await.expect("the guest is told");
    assert!(mail.text.contains("expired before it was paid, so the dates were released"), "{}", mail.text);
    assert_eq!(world.status(lapsed).await, BookingStatus::Expired);
    assert_eq!(world.status(live).await, BookingStatus::Pending, "a hold within its time stays");

    world.wait_for_finished_jobs(2 + 1).await;
    assert_eq!(world.subjects_to(&world.guest), [subject]);
    assert!(world.subjects_to(&world.host).is_empty(), "the host hears nothing");
    worker.stop().await;
}

/// A hold's or a stay's own job finds its booking by key, and a booking's
/// locked pass finds its listing's lapsed holds by listing, however many
/// others are due and whatever the planner's statistics say. With the
/// partial indexes' statistics as an hour without holds or check-outs
/// leaves them, a statement saying `status = 'pending'` walked every lapsed
/// hold (and `status = 'confirmed'` every ended stay) to find its own.
#[tokio::test]
async fn a_booking_s_job_and_its_listing_s_sweep_read_only_their_own_bookings() {
    const PENDING: &str = "bookings_pending_expiry_idx";
    const CONFIRMED: &str = "bookings_confirmed_checkout_idx";
    let world = World::new().await;
    let lapsed =
        world.book(world.day(10), 2, State::Pending { expires_at: Utc::now() - chrono::Duration::minutes(1) }).await;
    let ended = world.book(world.day(-3), 3, State::Confirmed).await; // checks out today
    let db = &world.app.db;
    sqlx::query("alter table bookings set (autovacuum_enabled = off)").execute(db).await.unwrap();
    sqlx::query("analyze bookings").execute(db).await.unwrap();
    for index in [PENDING, CONFIRMED] {
        sqlx::query("update pg_class set reltuples = 0 where oid = $1::regclass")
            .bind(index)
            .execute(db)
            .await
            .unwrap();
    }
    // 5,000 more of each, one night apart: holds lapsed in 2040 at another
    // listing, stays ended before today at this one.
    let elsewhere = PropertyId::new();
    sqlx::query(
        "insert into properties (property_id, host_id, name, address, city, country, price_per_night, cleaning_fee,
             currency, max_guests, cancellation_policy)
         select $1, host_id, 'Elsewhere', address, city, country, price_per_night, cleaning_fee, currency,
             max_guests, cancellation_policy
         from properties where property_id = $2",
    )
    .bind(elsewhere)
    .bind(world.property)
    .execute(db)
    .await
    .unwrap();
    for (like, at, first_night) in
        [(lapsed, elsewhere, "date '2040-01-01' + n"), (ended, world.property, "$3::date - n - 1")]
    {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "insert into bookings (booking_id, property_id, guest_id, check_in, check_out, guests, nightly_price,
                 nightly_subtotal, cleaning_fee, service_fee, total_price, currency, status, cancellation_policy,
                 expires_at)
             select gen_random_uuid(), $2, guest_id, {first_night}, {first_night} + 1, guests, nightly_price,
                 nightly_price, 0, 0, nightly_price, currency, status, cancellation_policy, expires_at
             from bookings, generate_series(0, 4999) n where booking_id = $1"
        )))
        .bind(like)
        .bind(at)
        .bind(world.day(-3))
        .execute(db)
        .await
        .unwrap();
    }

    let (expired, read) = index_entries_read(db, PENDING, async |conn| {
        bookings::expire_due_holds(conn, Sweep::Property(world.property), None).await.unwrap()
    })
    .await;
    assert_eq!(expired, [lapsed], "the listing's one lapsed hold");
    assert!(read < 100, "expiring one listing's holds read {read} entries of {PENDING}");
    let other: BookingId = sqlx::query_scalar("select booking_id from bookings where property_id = $1 limit 1")
        .bind(elsewhere)
        .fetch_one(db)
        .await
        .unwrap();
    let (expired, read) = index_entries_read(db, PENDING, async |conn| {
        bookings::expire_due_holds(conn, Sweep::Booking(other), None).await.unwrap()
    })
    .await;
    assert_eq!(expired, [other]);
    assert!(read < 100, "expiring one hold read {read} entries of {PENDING}");
    let (completed, read) = index_entries_read(db, CONFIRMED, async |conn| {
        bookings::complete_finished_stays(conn, Sweep::Booking(ended), None).await.unwrap()
    })
    .await;
    assert_eq!(completed, [ended]);
    assert!(read < 100, "completing one stay read {read} entries of {CONFIRMED}");
}

/// Most of a booking's own jobs find the hold paid or the stay cancelled.
/// Such a job is ruled out by reading its booking, without the row lock of
/// the scoped sweep: a lock sets the row's `xmax` and makes the job's
/// commit wait for a WAL flush. The read answers as the locked statements
/// would.
#[tokio::test]
async fn a_booking_s_job_with_nothing_to_do_reads_its_booking_without_locking_it() {
    let world = World::new().await;
    let hour = chrono::Duration::hours(1);
    let lapsed = world.book(world.day(10), 2, State::Pending { expires_at: Utc::now() - hour }).await;
    let live = world.book(world.day(20), 2, State::Pending { expires_at: Utc::now() + hour }).await;
    let paid = world.book(world.day(30), 2, State::Confirmed).await;
    let ended = world.book(world.day(-3), 3, State::Confirmed).await; // checks out today
    let cancelled = world.book(world.day(-6), 2, State::Cancelled { by: world.guest.id, refund: 0 }).await;
    let unknown = BookingId::new();
    let db = &world.app.db;
    let due = async |job| bookings::job_may_be_due(db, &job).await.unwrap();
    assert!(due(BookingJob::ExpireHold { booking_id: lapsed }).await);
    for booking in [live, paid, ended, cancelled, unknown] {
        assert!(!due(BookingJob::ExpireHold { booking_id: booking }).await, "{booking:?} has no hold to expire");
    }
    assert!(due(BookingJob::CompleteStay { booking_id: ended }).await);
    for booking in [lapsed, live, paid, cancelled, unknown] {
        assert!(!due(BookingJob::CompleteStay { booking_id: booking }).await, "{booking:?} has no stay to complete");
    }

    let mut tx = db.begin().await.unwrap();
    shared::outbox::enqueue(&mut tx, &BookingJob::ExpireHold { booking_id: paid }, None).await.unwrap();
    shared::outbox::enqueue(&mut tx, &BookingJob::CompleteStay { booking_id: cancelled }, None).await.unwrap();
    tx.commit().await.unwrap();
    let worker = world.worker();
    world.wait_for_finished::<BookingJob>(2).await;
    worker.stop().await;
    let lockers: Vec<String> = sqlx::query_scalar("select xmax::text from bookings where booking_id = any($1)")
        .bind([paid, cancelled])
        .fetch_all(db)
        .await
        .unwrap();
    assert_eq!(lockers, ["0", "0"], "no transaction locked the paid hold or the cancelled stay");
    assert_eq!(world.status(paid).await, BookingStatus::Confirmed);
    assert_eq!(world.status(cancelled).await, BookingStatus::Cancelled);
}

#[tokio::test]
async fn the_worker_completes_a_stay_whose_check_out_day_has_come_and_invites_the_guest_to_review_it() {
    let world = World::new().await;
    let ended = world.book(world.day(-3), 3, State::Confirmed).await; // checks out today
    let ongoing = world.book(world.day(0), 2, State::Confirmed).await; // checks in today

    let worker = world.worker();
    let subject = format!("How was your stay at {}?", world.property_name);
    let mail = world.wait_for_mail(&world.guest, &subject, WAIT).await.expect("the guest is invited");
    assert!(mail.text.contains("we hope you enjoyed your stay at Casa <Azul> & Co in Lisboa"), "{}", mail.text);
    assert_eq!(world.status(ended).await, BookingStatus::Completed);
    assert_eq!(world.status(ongoing).await, BookingStatus::Confirmed, "a stay under way goes on");

    world.wait_for_finished_jobs(2 + 1).await;
    assert_eq!(world.subjects_to(&world.guest), [subject]);
    assert!(world.subjects_to(&world.host).is_empty(), "the host is not invited");
    worker.stop().await;
}

#[tokio::test]
async fn the_sweeper_purges_idempotency_keys_older_than_a_day_and_keeps_fresh_ones() {
    let world = World::new().await;
    for (key, age_hours) in [("stale", 25), ("fresh", 23)] {
        sqlx::query(
            "insert into idempotency_keys (user_id, idempotency_key, request_hash, created_at)
             values ($1, $2, 'hash', now() - make_interval(hours => $3))",
        )
        .bind(world.guest.id)
        .bind(key)
        .bind(age_hours)
        .execute(&world.app.db)
        .await
        .unwrap();
    }

    let sweep = sweeper::sweep(&world.app.db, &world.relay()).await;

    assert_eq!(sweep.idempotency_keys_purged, Some(1));
    let left: Vec<String> =
        sqlx::query_scalar("select idempotency_key from idempotency_keys").fetch_all(&world.app.db).await.unwrap();
    assert_eq!(left, ["fresh"]);
}

#[tokio::test]
async fn the_sweeper_sweeps_again_every_interval_and_wakes_the_relay_so_the_email_leaves_at_once() {
    // Relays that would not look at the outbox again within the test.
    let world = World::with_outbox_poll(Some(Duration::from_secs(600))).await;
    let worker = world.worker();
    let stop = CancellationToken::new();
    let relay = world.relay();
    let relaying = tokio::spawn(relay.clone().run(stop.clone().cancelled_owned()));
    let sweeping = tokio::spawn(sweeper::run(world.app.db.clone(), relay, Duration::from_millis(100), stop.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await; // past the first passes of every sweeper and relay

    let lapsed =
        world.book(world.day(10), 2, State::Pending { expires_at: Utc::now() - chrono::Duration::seconds(1) }).await;

    let subject = format!("Your hold on {} expired", world.property_name);
    let mail = world.wait_for_mail(&world.guest, &subject, Duration::from_secs(10)).await;
    assert!(mail.is_some(), "a later pass expired the hold and its email left without waiting for a poll");
    assert_eq!(world.status(lapsed).await, BookingStatus::Expired);
    stop.cancel();
    relaying.await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), sweeping).await.expect("the sweeper stops when told").unwrap();
    worker.stop().await;
}

#[tokio::test]
async fn a_failing_sweep_step_does_not_keep_the_other_steps_from_running() {
    let world = World::new().await;
    let lapsed =
        world.book(world.day(10), 2, State::Pending { expires_at: Utc::now() - chrono::Duration::minutes(1) }).await;
    let ended = world.book(world.day(-3), 3, State::Confirmed).await;
    sqlx::query("insert into idempotency_keys (user_id, idempotency_key, request_hash, created_at) values ($1, 'old', 'h', now() - interval '2 days')")
        .bind(world.guest.id)
        .execute(&world.app.db)
        .await
        .unwrap();
    // The first step fails until the trigger goes.
    sqlx::query(
        "create function refuse_expiry() returns trigger language plpgsql as
         $$ begin raise exception 'expiries refused by the test'; end $$",
    )
    .execute(&world.app.db)
    .await
    .unwrap();
    sqlx::query(
        "create trigger refuse_expiry before update on bookings
         for each row when (new.status = 'expired') execute function refuse_expiry()",
    )
    .execute(&world.app.db)
    .await
    .unwrap();
    let relay = world.relay();

    let sweep = sweeper::sweep(&world.app.db, &relay).await;
    assert_eq!(
        sweep,
        sweeper::Sweep { holds_expired: None, stays_completed: Some(1), idempotency_keys_purged: Some(1) }
    );
    assert_eq!(world.status(lapsed).await, BookingStatus::Pending);
    assert_eq!(world.status(ended).await, BookingStatus::Completed);

    sqlx::query("drop trigger refuse_expiry on bookings").execute(&world.app.db).await.unwrap();
    let sweep = sweeper::sweep(&world.app.db, &relay).await;
    assert_eq!(sweep.holds_expired, Some(1), "the next pass does it");
    assert_eq!(world.status(lapsed).await, BookingStatus::Expired);
}
