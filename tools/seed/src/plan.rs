//! Draws every row in memory first, deterministically from the seed, so
//! that what one table needs from another (a listing's rating aggregate
//! from its reviews, a payment from its booking's fate) is known before
//! anything is written.
//!
//! Time: every timestamp lies before midnight (UTC) of `today`, and stays
//! span the year before `today` to half a year after it, so a seeded
//! database has a past (completed, reviewed stays), a present (stays
//! under way) and a future (confirmed stays that make availability
//! searches selective).

use anyhow::{Context, ensure};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use shared::domain::{BookingStatus, CancellationPolicy, Canceller, Quote, StayDates, refund_due};
use uuid::Uuid;

use crate::data::{self, CITIES};

/// How many rows of each kind to make.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub users: usize,
    pub properties: usize,
    pub bookings: usize,
    pub reviews: usize,
}

/// Stays lie in `[today - PAST_DAYS, today + FUTURE_DAYS)`.
pub const PAST_DAYS: i64 = 365;
pub const FUTURE_DAYS: i64 = 180;
const WINDOW: i64 = PAST_DAYS + FUTURE_DAYS;
/// Most stays one listing gets in the window (a quarter of its nights).
pub const MAX_STAYS_PER_PROPERTY: usize = (WINDOW / 4) as usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Host,
    Guest,
}

pub struct User {
    pub id: Uuid,
    pub role: Role,
    pub email: String,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub struct Property {
    pub id: Uuid,
    pub host: u32,
    pub city: u16,
    pub name: String,
    pub description: String,
    pub address: String,
    pub latitude: f64,
    pub longitude: f64,
    pub price: i64,
    pub cleaning_fee: i64,
    pub max_guests: i32,
    pub bedrooms: i32,
    pub bathrooms: i32,
    pub amenities: Vec<&'static str>,
    pub photos: u8,
    pub policy: CancellationPolicy,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub rating_sum: i64,
    pub review_count: i32,
}

/// A payment's final state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentState {
    Succeeded,
    PartiallyRefunded,
    Refunded,
    Failed,
}

pub struct Payment {
    pub id: Uuid,
    pub state: PaymentState,
    pub refunded: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct Cancellation {
    pub at: DateTime<Utc>,
    pub by: u32,
    pub refund: i64,
}

pub struct Booking {
    pub id: Uuid,
    pub property: u32,
    pub guest: u32,
    pub check_in: NaiveDate,
    pub nights: i64,
    pub guests: i32,
    pub quote: Quote,
    pub status: BookingStatus,
    pub cancellation: Option<Cancellation>,
    pub payment: Option<Payment>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Booking {
    pub fn check_out(&self) -> NaiveDate {
        self.check_in + Duration::days(self.nights)
    }
}

pub struct Review {
    pub id: Uuid,
    pub booking: u32,
    pub rating: i16,
    pub comment: &'static str,
    pub created_at: DateTime<Utc>,
}

/// Everything to write.
pub struct Plan {
    pub users: Vec<User>,
    pub properties: Vec<Property>,
    pub bookings: Vec<Booking>,
    pub reviews: Vec<Review>,
    pub password_hash: String,
}

impl Plan {
    pub fn payments(&self) -> usize {
        self.bookings.iter().filter(|b| b.payment.is_some()).count()
    }
}

struct Gen {
    rng: StdRng,
    /// Midnight UTC of `today`: nothing seeded happens after it.
    now: DateTime<Utc>,
    today: NaiveDate,
}

impl Gen {
    fn unit(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// A standard normal sample (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// An index in `0..n`, low ones far more likely (heavy users, big hosts).
    fn skewed(&mut self, n: usize, power: f64) -> usize {
        ((n as f64 * self.unit().powf(power)) as usize).min(n - 1)
    }

    fn secs(&mut self, from: i64, to: i64) -> Duration {
        Duration::seconds(if to > from { self.rng.random_range(from..to) } else { from })
    }

    fn days_ago(&mut self, from: i64, to: i64) -> DateTime<Utc> {
        self.now - self.secs(from * 86_400, to * 86_400)
    }

    /// A time-ordered id (UUIDv7, as the application makes them) for a row created at `at`.
    fn id(&mut self, at: DateTime<Utc>) -> Uuid {
        let random: [u8; 10] = self.rng.random();
        uuid::Builder::from_unix_timestamp_millis(at.timestamp_millis().max(0) as u64, &random).into_uuid()
    }

    fn weighted<T: Copy>(&mut self, choices: &[(T, f64)]) -> T {
        let total: f64 = choices.iter().map(|(_, w)| w).sum();
        let mut x = self.unit() * total;
        for (choice, weight) in choices {
            if x < *weight {
                return *choice;
            }
            x -= weight;
        }
        choices[choices.len() - 1].0
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Draws the whole data set.
pub fn plan(scale: Scale, seed: u64, today: NaiveDate, password_hash: String) -> anyhow::Result<Plan> {
    ensure!(scale.users >= 2, "--users must be at least 2 (a host and a guest)");
    ensure!(scale.properties >= 1, "--properties must be at least 1");
    ensure!(
        scale.bookings <= scale.properties * MAX_STAYS_PER_PROPERTY,
        "--bookings {} is more than {} listings can hold ({} each in {} days)",
        scale.bookings,
        scale.properties,
        MAX_STAYS_PER_PROPERTY,
        WINDOW
    );
    let mut g = Gen { rng: StdRng::seed_from_u64(seed), now: midnight(today), today };
    let users = users(&mut g, scale.users);
    let hosts: Vec<u32> = (0..users.len() as u32).filter(|&i| users[i as usize].role == Role::Host).collect();
    let guests: Vec<u32> = (0..users.len() as u32).filter(|&i| users[i as usize].role == Role::Guest).collect();
    let mut properties: Vec<Property> = (0..scale.properties).map(|_| property(&mut g, &hosts)).collect();
    let bookings = bookings(&mut g, &properties, &guests, scale.bookings)?;
    let reviews = reviews(&mut g, &bookings, scale.reviews)?;
    for review in &reviews {
        let property = &mut properties[bookings[review.booking as usize].property as usize];
        property.rating_sum += i64::from(review.rating);
        property.review_count += 1;
        property.updated_at = property.updated_at.max(review.created_at);
    }
    Ok(Plan { users, properties, bookings, reviews, password_hash })
}

/// One admin, a fifth hosts, the rest guests. Emails are `admin@`,
/// `host<n>@` and `guest<n>@example.com`, numbered from 1, so a benchmark
/// can sign in as any of them.
fn users(g: &mut Gen, count: usize) -> Vec<User> {
    let hosts = (count / 5).max(1);
    (0..count)
        .map(|i| {
            let (role, email, created_at) = match i {
                0 => (Role::Admin, "admin@example.com".to_owned(), g.days_ago(1800, 1801)),
                i if i <= hosts => (Role::Host, format!("host{i}@example.com"), g.days_ago(1410, 1800)),
                i => (Role::Guest, format!("guest{}@example.com", i - hosts), g.days_ago(500, 1800)),
            };
            let phone = (g.unit() < 0.6).then(|| format!("+1 555 {:07}", g.below(10_000_000)));
            User {
                id: g.id(created_at),
                role,
                email,
                first_name: g.pick(data::FIRST_NAMES),
                last_name: g.pick(data::LAST_NAMES),
                phone,
                created_at,
            }
        })
        .collect()
}

fn property(g: &mut Gen, hosts: &[u32]) -> Property {
    let city_weights: Vec<(u16, f64)> =
        CITIES.iter().enumerate().map(|(i, c)| (i as u16, f64::from(c.weight))).collect();
    let city_index = g.weighted(&city_weights);
    let city = &CITIES[city_index as usize];
    let bedrooms = g.weighted(&[(0, 0.12), (1, 0.38), (2, 0.28), (3, 0.13), (4, 0.06), (5, 0.03)]);
    let max_guests = ((bedrooms * 2).max(1) + g.below(3) as i32).clamp(1, 16);
    let size = 0.7 + 0.45 * f64::from(bedrooms);
    let price = ((city.base_price as f64 * size * (0.35 * g.normal()).exp() / 100.0).round() as i64 * 100)
        .clamp(500, 100_000_000);
    let cleaning_fee = if g.unit() < 0.25 { 0 } else { (price as f64 * (0.1 + 0.5 * g.unit()) / 100.0) as i64 * 100 };
    let kind = if bedrooms <= 1 { g.pick(data::SMALL_KINDS) } else { g.pick(data::LARGE_KINDS) };
    let name = format!("{} {kind} {}", g.pick(data::ADJECTIVES), g.pick(data::FEATURES));
    let description = format!(
        "{} {} {} Welcome to {}!",
        g.pick(data::DESCRIPTIONS),
        g.pick(data::DESCRIPTIONS),
        g.pick(data::DESCRIPTIONS),
        city.name
    );
    let address = format!("{} {} Street, {}", 1 + g.below(300), g.pick(data::LAST_NAMES), city.name);
    let amenities = data::AMENITIES.iter().filter(|(_, share)| g.unit() < *share).map(|(a, _)| *a).collect();
    let mut amenities: Vec<&'static str> = amenities;
    amenities.sort_unstable();
    let created_at = g.days_ago(380, 1400);
    let policy = g.weighted(&[
        (CancellationPolicy::Flexible, 0.35),
        (CancellationPolicy::Moderate, 0.45),
        (CancellationPolicy::Strict, 0.2),
    ]);
    Property {
        id: g.id(created_at),
        host: hosts[g.skewed(hosts.len(), 1.8)],
        city: city_index,
        name,
        description,
        address,
        latitude: (city.latitude + (g.unit() - 0.5) * 0.16).clamp(-90.0, 90.0),
        longitude: (city.longitude + (g.unit() - 0.5) * 0.16).clamp(-180.0, 180.0),
        price,
        cleaning_fee,
        max_guests,
        bedrooms,
        bathrooms: 1 + bedrooms / 2,
        amenities,
        photos: 1 + g.below(8) as u8,
        policy,
        created_at,
        updated_at: created_at,
        rating_sum: 0,
        review_count: 0,
    }
}

/// How many stays each listing gets: popular ones many, most a few.
fn stays_per_property(g: &mut Gen, properties: usize, total: usize) -> Vec<usize> {
    let mut cumulative = Vec::with_capacity(properties);
    let mut sum = 0.0;
    for _ in 0..properties {
        sum += (0.9 * g.normal()).exp();
        cumulative.push(sum);
    }
    let mut counts = vec![0usize; properties];
    let mut overflow = 0;
    for _ in 0..total {
        let x = g.unit() * sum;
        let i = cumulative.partition_point(|&c| c <= x).min(properties - 1);
        if counts[i] < MAX_STAYS_PER_PROPERTY {
            counts[i] += 1;
        } else {
            overflow += 1;
        }
    }
    while overflow > 0 {
        let i = g.below(properties);
        if counts[i] < MAX_STAYS_PER_PROPERTY {
            counts[i] += 1;
            overflow -= 1;
        }
    }
    counts
}

fn bookings(g: &mut Gen, properties: &[Property], guests: &[u32], total: usize) -> anyhow::Result<Vec<Booking>> {
    ensure!(!guests.is_empty() || total == 0, "no guest accounts to book with: raise --users");
    let counts = stays_per_property(g, properties.len(), total);
    let window_start = g.today - Duration::days(PAST_DAYS);
    let mut bookings = Vec::with_capacity(total);
    for (index, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let property = &properties[index];
        let mut lengths: Vec<i64> = (0..count)
            .map(|_| {
                g.weighted(&[
                    (1, 0.1),
                    (2, 0.2),
                    (3, 0.2),
                    (4, 0.12),
                    (5, 0.1),
                    (6, 0.06),
                    (7, 0.12),
                    (10, 0.05),
                    (14, 0.05),
                ])
            })
            .collect();
        while lengths.iter().sum::<i64>() > WINDOW {
            let i = g.below(count);
            lengths[i] = (lengths[i] / 2).max(1);
        }
        // Free nights spread over the gaps before, between and after the stays.
        let free = WINDOW - lengths.iter().sum::<i64>();
        let weights: Vec<f64> = (0..=count).map(|_| -g.unit().max(f64::MIN_POSITIVE).ln()).collect();
        let weight_sum: f64 = weights.iter().sum();
        let mut day = window_start;
        for (i, nights) in lengths.into_iter().enumerate() {
            day += Duration::days((free as f64 * weights[i] / weight_sum) as i64);
            bookings.push(booking(g, index as u32, property, guests, day, nights)?);
            day += Duration::days(nights);
        }
    }
    Ok(bookings)
}

fn booking(
    g: &mut Gen,
    index: u32,
    property: &Property,
    guests: &[u32],
    check_in: NaiveDate,
    nights: i64,
) -> anyhow::Result<Booking> {
    let stay = StayDates::new(check_in, check_in + Duration::days(nights)).context("BUG: a stay of 1+ nights")?;
    let quote = Quote::compute(property.price, property.cleaning_fee, nights).context("a stay's price overflows")?;
    let check_in_at = stay.check_in_at();
    // Booked a few days to four months ahead, after the listing existed and before today.
    let lead_days = (1.0 + g.unit().powi(2) * 120.0) as i64;
    let lead = g.secs(3600, lead_days * 86_400);
    let latest = (g.now - Duration::minutes(60)).min(check_in_at - Duration::hours(1));
    let earliest = property.created_at + Duration::hours(1);
    let mut created_at = check_in_at - lead;
    if created_at > latest {
        created_at = latest - g.secs(0, 30 * 86_400);
    }
    let created_at = created_at.max(earliest);
    let past = stay.check_out() <= g.today;
    let under_way = !past && check_in <= g.today;
    let roll = g.unit();
    let status = match () {
        _ if under_way => BookingStatus::Confirmed,
        _ if past && roll < 0.82 => BookingStatus::Completed,
        _ if !past && roll < 0.88 => BookingStatus::Confirmed,
        _ if roll < 0.94 => BookingStatus::Cancelled,
        _ => BookingStatus::Expired,
    };
    let paid = match status {
        BookingStatus::Cancelled => g.unit() < 0.85,
        BookingStatus::Expired | BookingStatus::Pending => false,
        BookingStatus::Confirmed | BookingStatus::Completed => true,
    };
    let mut payment = (paid || (status == BookingStatus::Expired && g.unit() < 0.2)).then(|| {
        let created = (created_at + g.secs(30, 600)).min(g.now);
        Payment {
            id: g.id(created),
            state: if paid { PaymentState::Succeeded } else { PaymentState::Failed },
            refunded: 0,
            created_at: created,
            updated_at: (created + g.secs(1, 4)).min(g.now),
        }
    });
    let mut updated_at = payment.as_ref().map_or(created_at, |p| p.updated_at);
    let cancellation = (status == BookingStatus::Cancelled).then(|| {
        let by_guest = g.unit() < 0.75;
        let at = match &payment {
            Some(p) => {
                let until = check_in_at.min(g.now);
                p.updated_at + g.secs(60, (until - p.updated_at).num_seconds())
            }
            None => created_at + g.secs(60, 25 * 60),
        };
        let canceller = if by_guest { Canceller::Guest } else { Canceller::HostOrAdmin };
        let held = if paid { BookingStatus::Confirmed } else { BookingStatus::Pending };
        let refund = refund_due(held, canceller, property.policy, quote.total, &stay, at);
        Cancellation { at, by: if by_guest { u32::MAX } else { property.host }, refund }
    });
    if let (Some(cancel), Some(p)) = (&cancellation, payment.as_mut()) {
        p.refunded = cancel.refund;
        p.state = match cancel.refund {
            0 => PaymentState::Succeeded,
            r if r == quote.total => PaymentState::Refunded,
            _ => PaymentState::PartiallyRefunded,
        };
        if cancel.refund > 0 {
            p.updated_at = (cancel.at + g.secs(1, 5)).min(g.now);
        }
    }
    updated_at = match status {
        BookingStatus::Completed => (midnight(stay.check_out()) + g.secs(0, 3600)).min(g.now),
        BookingStatus::Cancelled => cancellation.as_ref().map_or(updated_at, |c| c.at),
        BookingStatus::Expired => created_at + Duration::minutes(30),
        _ => updated_at,
    };
    let guest = guests[g.skewed(guests.len(), 1.6)];
    let cancellation = cancellation.map(|c| Cancellation { by: if c.by == u32::MAX { guest } else { c.by }, ..c });
    let party = 1 + (g.unit().powi(2) * f64::from(property.max_guests)) as i32;
    Ok(Booking {
        id: g.id(created_at),
        property: index,
        guest,
        check_in,
        nights,
        guests: party.min(property.max_guests),
        quote,
        status,
        cancellation,
        payment,
        created_at,
        updated_at,
    })
}

/// Exactly `count` reviews, spread uniformly over the completed stays that
/// ended before today (selection sampling).
fn reviews(g: &mut Gen, bookings: &[Booking], count: usize) -> anyhow::Result<Vec<Review>> {
    let reviewable: Vec<u32> = (0..bookings.len() as u32)
        .filter(|&i| {
            let b = &bookings[i as usize];
            b.status == BookingStatus::Completed && b.check_out() < g.today
        })
        .collect();
    ensure!(
        count <= reviewable.len(),
        "--reviews {count} is more than the {} completed stays: raise --bookings or lower --reviews",
        reviewable.len()
    );
    let mut reviews = Vec::with_capacity(count);
    for (seen, &index) in reviewable.iter().enumerate() {
        let wanted = count - reviews.len();
        if wanted == 0 {
            break;
        }
        if (g.below(reviewable.len() - seen)) < wanted {
            let booking = &bookings[index as usize];
            let ended = midnight(booking.check_out());
            let created_at = ended + g.secs(3600, (14 * 86_400).min((g.now - ended).num_seconds() - 60));
            let rating = g.weighted(&[(5, 0.55), (4, 0.28), (3, 0.1), (2, 0.04), (1, 0.03)]);
            reviews.push(Review {
                id: g.id(created_at),
                booking: index,
                rating,
                comment: g.pick(data::REVIEW_COMMENTS),
                created_at,
            });
        }
    }
    Ok(reviews)
}
