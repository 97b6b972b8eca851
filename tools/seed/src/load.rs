//! Writes a [`Plan`] with `COPY … from stdin` (text format), one statement
//! per table, in one transaction: every constraint and trigger of the
//! schema checks the rows as they arrive, and a failure leaves nothing.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use indicatif::ProgressBar;
use shared::domain::{BookingStatus, CancellationPolicy};
use sqlx::{Connection, PgConnection};

use crate::{
    data::CITIES,
    plan::{PaymentState, Plan, Role},
};

/// Bytes gathered before they are sent to the server.
const CHUNK: usize = 1 << 20;

/// One row of COPY text: fields separated by tabs, `\N` for null.
struct Row<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Row<'a> {
    fn new(out: &'a mut String) -> Self {
        Self { out, first: true }
    }

    fn sep(&mut self) {
        if !self.first {
            self.out.push('\t');
        }
        self.first = false;
    }

    fn text(&mut self, value: &str) -> &mut Self {
        self.sep();
        for c in value.chars() {
            match c {
                '\\' => self.out.push_str("\\\\"),
                '\t' => self.out.push_str("\\t"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                c => self.out.push(c),
            }
        }
        self
    }

    fn display(&mut self, value: impl std::fmt::Display) -> &mut Self {
        self.sep();
        let _ = write!(self.out, "{value}");
        self
    }

    fn null(&mut self) -> &mut Self {
        self.sep();
        self.out.push_str("\\N");
        self
    }

    fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    fn opt(&mut self, value: Option<impl std::fmt::Display>) -> &mut Self {
        match value {
            Some(v) => self.display(v),
            None => self.null(),
        }
    }

    fn time(&mut self, at: DateTime<Utc>) -> &mut Self {
        self.display(at.format("%Y-%m-%d %H:%M:%S%.6f+00"))
    }

    fn date(&mut self, day: NaiveDate) -> &mut Self {
        self.display(day.format("%Y-%m-%d"))
    }

    /// A text array; elements are quoted (they may hold spaces).
    fn array<'s>(&mut self, items: impl IntoIterator<Item = &'s str>) -> &mut Self {
        let mut literal = String::from("{");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                literal.push(',');
            }
            literal.push('"');
            literal.push_str(&item.replace('\\', "\\\\").replace('"', "\\\""));
            literal.push('"');
        }
        literal.push('}');
        self.text(&literal)
    }

    fn end(&mut self) {
        self.out.push('\n');
    }
}

fn policy(policy: CancellationPolicy) -> &'static str {
    match policy {
        CancellationPolicy::Flexible => "flexible",
        CancellationPolicy::Moderate => "moderate",
        CancellationPolicy::Strict => "strict",
    }
}

fn status(status: BookingStatus) -> &'static str {
    match status {
        BookingStatus::Pending => "pending",
        BookingStatus::Confirmed => "confirmed",
        BookingStatus::Completed => "completed",
        BookingStatus::Cancelled => "cancelled",
        BookingStatus::Expired => "expired",
    }
}

/// Streams `count` rows produced by `row(i, buffer)` into one COPY statement.
async fn copy(
    conn: &mut PgConnection,
    statement: &str,
    count: usize,
    progress: &ProgressBar,
    mut row: impl FnMut(usize, &mut String),
) -> anyhow::Result<()> {
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut buffer = String::with_capacity(CHUNK + 4096);
    let mut pending = 0;
    for i in 0..count {
        row(i, &mut buffer);
        pending += 1;
        if buffer.len() >= CHUNK {
            copy.send(buffer.as_bytes()).await?;
            buffer.clear();
            progress.inc(pending);
            pending = 0;
        }
    }
    copy.send(buffer.as_bytes()).await?;
    copy.finish().await?;
    progress.inc(pending);
    Ok(())
}

/// Writes every table of `plan`, then commits.
pub async fn load(conn: &mut PgConnection, plan: &Plan, progress: &ProgressBar) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    progress.set_message("users");
    copy(
        &mut tx,
        "copy users (user_id, email, password_hash, first_name, last_name, phone_number, role, created_at, \
         updated_at) from stdin",
        plan.users.len(),
        progress,
        |i, out| {
            let u = &plan.users[i];
            let role = match u.role {
                Role::Admin => "admin",
                Role::Host => "host",
                Role::Guest => "guest",
            };
            Row::new(out)
                .display(u.id)
                .text(&u.email)
                .text(&plan.password_hash)
                .text(u.first_name)
                .text(u.last_name)
                .opt_text(u.phone.as_deref())
                .text(role)
                .time(u.created_at)
                .time(u.created_at)
                .end();
        },
    )
    .await?;

    progress.set_message("properties");
    copy(
        &mut tx,
        "copy properties (property_id, host_id, name, description, address, city, country, latitude, longitude, \
         price_per_night, cleaning_fee, currency, max_guests, bedrooms, bathrooms, amenities, photos, \
         cancellation_policy, rating_sum, review_count, created_at, updated_at) from stdin",
        plan.properties.len(),
        progress,
        |i, out| {
            let p = &plan.properties[i];
            let city = &CITIES[p.city as usize];
            let photos: Vec<String> =
                (1..=p.photos).map(|k| format!("https://img.example.com/listings/{}/{k}.jpg", p.id)).collect();
            Row::new(out)
                .display(p.id)
                .display(plan.users[p.host as usize].id)
                .text(&p.name)
                .text(&p.description)
                .text(&p.address)
                .text(city.name)
                .text(city.country)
                .display(format_args!("{:.6}", p.latitude))
                .display(format_args!("{:.6}", p.longitude))
                .display(p.price)
                .display(p.cleaning_fee)
                .text(city.currency)
                .display(p.max_guests)
                .display(p.bedrooms)
                .display(p.bathrooms)
                .array(p.amenities.iter().copied())
                .array(photos.iter().map(String::as_str))
                .text(policy(p.policy))
                .display(p.rating_sum)
                .display(p.review_count)
                .time(p.created_at)
                .time(p.updated_at)
                .end();
        },
    )
    .await?;

    progress.set_message("bookings");
    copy(
        &mut tx,
        "copy bookings (booking_id, property_id, guest_id, check_in, check_out, guests, nightly_price, \
         nightly_subtotal, cleaning_fee, service_fee, total_price, currency, status, cancellation_policy, \
         cancelled_at, cancelled_by, refund_amount, created_at, updated_at) from stdin",
        plan.bookings.len(),
        progress,
        |i, out| {
            let b = &plan.bookings[i];
            let p = &plan.properties[b.property as usize];
            let q = &b.quote;
            Row::new(out)
                .display(b.id)
                .display(p.id)
                .display(plan.users[b.guest as usize].id)
                .date(b.check_in)
                .date(b.check_out())
                .display(b.guests)
                .display(q.nightly_price)
                .display(q.nightly_subtotal)
                .display(q.cleaning_fee)
                .display(q.service_fee)
                .display(q.total)
                .text(CITIES[p.city as usize].currency)
                .text(status(b.status))
                .text(policy(p.policy))
                .opt(b.cancellation.as_ref().map(|c| c.at.format("%Y-%m-%d %H:%M:%S%.6f+00")))
                .opt(b.cancellation.as_ref().map(|c| plan.users[c.by as usize].id))
                .opt(b.cancellation.as_ref().map(|c| c.refund))
                .time(b.created_at)
                .time(b.updated_at)
                .end();
        },
    )
    .await?;

    progress.set_message("payments");
    let paid: Vec<usize> = (0..plan.bookings.len()).filter(|&i| plan.bookings[i].payment.is_some()).collect();
    copy(
        &mut tx,
        "copy payments (payment_id, booking_id, amount, currency, status, refunded_amount, payment_method, \
         provider_reference, failure_reason, created_at, updated_at) from stdin",
        paid.len(),
        progress,
        |i, out| {
            let b = &plan.bookings[paid[i]];
            let p = b.payment.as_ref().expect("BUG: filtered on payments");
            let state = match p.state {
                PaymentState::Succeeded => "succeeded",
                PaymentState::PartiallyRefunded => "partially_refunded",
                PaymentState::Refunded => "refunded",
                PaymentState::Failed => "failed",
            };
            let failure = (p.state == PaymentState::Failed).then_some("Your card was declined.");
            Row::new(out)
                .display(p.id)
                .display(b.id)
                .display(b.quote.total)
                .text(CITIES[plan.properties[b.property as usize].city as usize].currency)
                .text(state)
                .display(p.refunded)
                .text("pm_card_visa")
                .display(format_args!("pi_seed_{}", p.id.simple()))
                .opt_text(failure)
                .time(p.created_at)
                .time(p.updated_at)
                .end();
        },
    )
    .await?;

    progress.set_message("reviews");
    copy(
        &mut tx,
        "copy reviews (review_id, property_id, booking_id, author_id, rating, comment, created_at, updated_at) \
         from stdin",
        plan.reviews.len(),
        progress,
        |i, out| {
            let r = &plan.reviews[i];
            let b = &plan.bookings[r.booking as usize];
            Row::new(out)
                .display(r.id)
                .display(plan.properties[b.property as usize].id)
                .display(b.id)
                .display(plan.users[b.guest as usize].id)
                .display(r.rating)
                .text(r.comment)
                .time(r.created_at)
                .time(r.created_at)
                .end();
        },
    )
    .await?;
    progress.set_message("committing");
    tx.commit().await?;
    Ok(())
}
