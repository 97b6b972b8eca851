//! The words of each email: pure functions of the data they announce, so
//! they are tested without a database or an SMTP server.

use shared::{
    bookings::{Addressee, Booking},
    domain::CancellationPolicy,
    jobs::Party,
    payments::Payment,
    users::User,
};

use super::format::{count, date, html_escape, instant, money};

const SIGN_OFF: &str = "The Airbnb Clone team";

/// An email's words before they take their two forms. Paragraphs are plain
/// text (a `\n` breaks a line); the HTML part escapes each one whole, so
/// user data never reaches the HTML unescaped, whatever a template does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Letter {
    pub subject: String,
    pub paragraphs: Vec<String>,
}

impl Letter {
    pub fn text(&self) -> String {
        let mut text = self.paragraphs.join("\n\n");
        text.push('\n');
        text
    }

    pub fn html(&self) -> String {
        self.paragraphs.iter().map(|p| format!("<p>{}</p>", html_escape(p).replace('\n', "<br>\n"))).collect()
    }
}

/// What a booking email is about, as loaded when it is sent.
#[derive(Clone, Debug)]
pub struct BookingMail {
    pub booking: Booking,
    /// The listing's name and city.
    pub property_name: String,
    pub property_city: String,
    /// Who the email goes to: the guest or the host of `booking`, as `to` says.
    pub recipient: Addressee,
    pub to: Party,
    /// The guest's first name, which emails to the host mention; `None`
    /// when the guest's account is gone.
    pub guest_name: Option<String>,
    /// The payment a payment email is about.
    pub payment: Option<Payment>,
}

impl BookingMail {
    fn greeting(&self) -> String {
        format!("Hi {},", self.recipient.first_name)
    }

    /// `Sea Cabin in Porto`.
    fn place(&self) -> String {
        format!("{} in {}", self.property_name, self.property_city)
    }

    /// `from Mon 10 Jun 2030 to Wed 12 Jun 2030 (2 nights, 2 guests)`.
    fn stay(&self) -> String {
        let b = &self.booking;
        format!(
            "from {} to {} ({}, {})",
            date(b.check_in),
            date(b.check_out),
            count(b.nights.into(), "night", "nights"),
            count(b.guests.into(), "guest", "guests"),
        )
    }

    /// `10 Jun 2030 → 12 Jun 2030`, for subjects.
    fn dates(&self) -> String {
        let short = |day: chrono::NaiveDate| day.format("%-d %b %Y").to_string();
        format!("{} → {}", short(self.booking.check_in), short(self.booking.check_out))
    }

    fn guest(&self) -> &str {
        self.guest_name.as_deref().unwrap_or("A guest")
    }

    /// The price breakdown, one line each.
    fn price(&self) -> String {
        let b = &self.booking;
        let m = |amount| money(amount, &b.currency);
        let mut lines = vec![format!(
            "{} × {}: {}",
            count(b.nights.into(), "night", "nights"),
            m(b.nightly_price),
            m(b.nightly_subtotal)
        )];
        if b.cleaning_fee > 0 {
            lines.push(format!("Cleaning fee: {}", m(b.cleaning_fee)));
        }
        if b.service_fee > 0 {
            lines.push(format!("Service fee: {}", m(b.service_fee)));
        }
        lines.push(format!("Total: {}", m(b.total_price)));
        lines.join("\n")
    }

    fn policy(&self) -> String {
        let name = match self.booking.cancellation_policy {
            CancellationPolicy::Flexible => "flexible",
            CancellationPolicy::Moderate => "moderate",
            CancellationPolicy::Strict => "strict",
        };
        format!("Cancellation policy: {name}.")
    }

    /// ` by you`, ` by the guest`…: who cancelled, from the reader's side.
    fn cancelled_by(&self) -> &'static str {
        match self.booking.cancelled_by {
            Some(id) if id == self.recipient.id => " by you",
            Some(id) if id == self.booking.guest_id => " by the guest",
            Some(id) if id == self.booking.host_id => " by the host",
            Some(_) => " by our support team",
            None => "",
        }
    }
}

impl BookingMail {
    fn payment(&self) -> &Payment {
        self.payment.as_ref().expect("BUG: payment emails load their payment")
    }
}

pub fn booking_confirmed(mail: &BookingMail) -> Letter {
    let name = &mail.property_name;
    match mail.to {
        Party::Guest => Letter {
            subject: format!("Booking confirmed: {name}"),
            paragraphs: vec![
                mail.greeting(),
                format!("your stay at {} {} is confirmed. Your payment went through.", mail.place(), mail.stay()),
                mail.price(),
                mail.policy(),
                SIGN_OFF.into(),
            ],
        },
        Party::Host => Letter {
            subject: format!("Booking confirmed: {name}, {}", mail.dates()),
            paragraphs: vec![
                mail.greeting(),
                format!(
                    "{} paid for a stay at {} {}. The dates are yours to host.",
                    mail.guest(),
                    mail.place(),
                    mail.stay()
                ),
                SIGN_OFF.into(),
            ],
        },
    }
}

pub fn payment_receipt(mail: &BookingMail) -> Letter {
    let payment = mail.payment();
    let reference = payment.provider_reference.as_deref().unwrap_or("pending");
    Letter {
        subject: format!("Receipt for your stay at {}", mail.property_name),
        paragraphs: vec![
            mail.greeting(),
            format!(
                "we received {} for your stay at {} {}.",
                money(payment.amount, &payment.currency),
                mail.place(),
                mail.stay()
            ),
            mail.price(),
            format!("Payment {} (reference {reference}).", payment.id),
            SIGN_OFF.into(),
        ],
    }
}

pub fn payment_failed(mail: &BookingMail) -> Letter {
    let payment = mail.payment();
    let reason = payment.failure_reason.as_deref().unwrap_or("The payment was declined.");
    let until = mail.booking.expires_at.map(instant).unwrap_or_else(|| "a short while".into());
    Letter {
        subject: format!("Your payment for {} did not go through", mail.property_name),
        paragraphs: vec![
            mail.greeting(),
            format!(
                "we could not charge {} for your stay at {}: {reason}",
                money(payment.amount, &payment.currency),
                mail.place()
            ),
            format!("The dates stay held for you until {until}; pay with another card before then to keep them."),
            SIGN_OFF.into(),
        ],
    }
}

pub fn refund_issued(mail: &BookingMail) -> Letter {
    let payment = mail.payment();
    let refunded = money(payment.refunded_amount, &payment.currency);
    match mail.to {
        Party::Guest => Letter {
            subject: format!("Refund of {refunded} for {}", mail.property_name),
            paragraphs: vec![
                mail.greeting(),
                format!("we refunded {refunded} of your payment for {} {}.", mail.place(), mail.stay()),
                "It reaches your card within 5 to 10 business days.".into(),
                SIGN_OFF.into(),
            ],
        },
        Party::Host => Letter {
            subject: format!("Refund to the guest for {}", mail.property_name),
            paragraphs: vec![
                mail.greeting(),
                format!("{} was refunded {refunded} for the stay at {} {}.", mail.guest(), mail.place(), mail.stay()),
                SIGN_OFF.into(),
            ],
        },
    }
}

pub fn welcome(user: &User) -> Letter {
    Letter {
        subject: format!("Welcome to Airbnb Clone, {}", user.first_name),
        paragraphs: vec![
            format!("Hi {},", user.first_name),
            "your account is ready. Search for a place to stay, or list your own.".into(),
            SIGN_OFF.into(),
        ],
    }
}

pub fn booking_requested(mail: &BookingMail) -> Letter {
    let name = &mail.property_name;
    match mail.to {
        Party::Guest => {
            let hold = match mail.booking.expires_at {
                Some(expiry) => format!(
                    "The dates are held for you until {}. Pay before then to confirm the booking; an unpaid hold is released.",
                    instant(expiry)
                ),
                None => "Pay to confirm the booking; an unpaid hold is released.".into(),
            };
            Letter {
                subject: format!("Booking request for {name}"),
                paragraphs: vec![
                    mail.greeting(),
                    format!("you asked to stay at {} {}.", mail.place(), mail.stay()),
                    hold,
                    mail.price(),
                    mail.policy(),
                    SIGN_OFF.into(),
                ],
            }
        }
        Party::Host => Letter {
            subject: format!("New booking request: {name}, {}", mail.dates()),
            paragraphs: vec![
                mail.greeting(),
                format!("{} asked to stay at {} {}.", mail.guest(), mail.place(), mail.stay()),
                "The dates are held while the guest pays. We will write again if the booking is cancelled.".into(),
                mail.price(),
                SIGN_OFF.into(),
            ],
        },
    }
}

pub fn booking_changed(mail: &BookingMail) -> Letter {
    let name = &mail.property_name;
    let (subject, change) = match mail.to {
        Party::Guest => (
            format!("Your booking for {name} changed"),
            format!("your booking at {} now runs {}.", mail.place(), mail.stay()),
        ),
        Party::Host => (
            format!("A booking for {name} changed: {}", mail.dates()),
            format!("{} changed their booking at {}: it now runs {}.", mail.guest(), mail.place(), mail.stay()),
        ),
    };
    Letter { subject, paragraphs: vec![mail.greeting(), change, mail.price(), SIGN_OFF.into()] }
}

pub fn booking_cancelled(mail: &BookingMail) -> Letter {
    let b = &mail.booking;
    let mut paragraphs = vec![
        mail.greeting(),
        format!("the booking at {} {} was cancelled{}.", mail.place(), mail.stay(), mail.cancelled_by()),
    ];
    match (mail.to, b.refund_amount.filter(|&refund| refund > 0)) {
        (Party::Guest, Some(refund)) => paragraphs.push(format!("Refund: {}", money(refund, &b.currency))),
        (Party::Host, Some(refund)) => paragraphs.push(format!("Refund to the guest: {}", money(refund, &b.currency))),
        (_, None) => {}
    }
    if mail.to == Party::Host {
        paragraphs.push("The dates are open for booking again.".into());
    }
    paragraphs.push(SIGN_OFF.into());
    Letter { subject: format!("Booking cancelled: {}", mail.property_name), paragraphs }
}

pub fn hold_expired(mail: &BookingMail) -> Letter {
    Letter {
        subject: format!("Your hold on {} expired", mail.property_name),
        paragraphs: vec![
            mail.greeting(),
            format!(
                "your hold on {} {} expired before it was paid, so the dates were released.",
                mail.place(),
                mail.stay()
            ),
            "If they are still free, you can book them again.".into(),
            SIGN_OFF.into(),
        ],
    }
}

pub fn review_invitation(mail: &BookingMail) -> Letter {
    Letter {
        subject: format!("How was your stay at {}?", mail.property_name),
        paragraphs: vec![
            mail.greeting(),
            format!("we hope you enjoyed your stay at {} {}.", mail.place(), mail.stay()),
            "A short review helps other guests choose, and helps your host do even better.".into(),
            SIGN_OFF.into(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};
    use shared::domain::{BookingId, BookingStatus, PropertyId, Role, UserId};

    use super::*;

    fn user(first_name: &str) -> User {
        User {
            id: UserId::new(),
            email: format!("{}@example.com", first_name.to_lowercase()),
            first_name: first_name.into(),
            last_name: "Doe".into(),
            phone_number: None,
            role: Role::Guest,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn mail(to: Party) -> BookingMail {
        let (guest, host) = (user("Gia"), user("Hal"));
        let day = |d| NaiveDate::from_ymd_opt(2030, 6, d).unwrap();
        let booking = Booking {
            id: BookingId::new(),
            property_id: PropertyId::new(),
            guest_id: guest.id,
            host_id: host.id,
            check_in: day(10),
            check_out: day(13),
            guests: 2,
            nights: 3,
            nightly_price: 10_000,
            nightly_subtotal: 30_000,
            cleaning_fee: 2_500,
            service_fee: 4_200,
            total_price: 36_700,
            currency: "EUR".into(),
            status: BookingStatus::Pending,
            cancellation_policy: CancellationPolicy::Moderate,
            expires_at: Some(Utc.with_ymd_and_hms(2030, 6, 1, 9, 30, 0).unwrap()),
            cancelled_at: None,
            cancelled_by: None,
            refund_amount: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let recipient = match to {
            Party::Guest => Addressee::from(&guest),
            Party::Host => Addressee::from(&host),
        };
        BookingMail {
            booking,
            property_name: "Sea <Cabin> & \"Co\"".into(),
            property_city: "Porto".into(),
            recipient,
            to,
            guest_name: Some(guest.first_name),
            payment: None,
        }
    }

    #[test]
    fn a_guest_s_request_email_shows_the_stay_the_hold_and_the_price() {
        let letter = booking_requested(&mail(Party::Guest));
        assert_eq!(letter.subject, "Booking request for Sea <Cabin> & \"Co\"");
        let text = letter.text();
        assert!(text.starts_with("Hi Gia,\n\n"), "{text}");
        assert!(text.contains("from Mon 10 Jun 2030 to Thu 13 Jun 2030 (3 nights, 2 guests)"), "{text}");
        assert!(text.contains("held for you until 09:30 UTC on Sat 1 Jun 2030"), "{text}");
        assert!(
            text.contains(
                "3 nights × 100.00 EUR: 300.00 EUR\nCleaning fee: 25.00 EUR\nService fee: 42.00 EUR\nTotal: 367.00 EUR"
            ),
            "{text}"
        );
        assert!(text.contains("Cancellation policy: moderate."), "{text}");
    }

    #[test]
    fn a_host_s_request_email_names_the_guest_and_the_dates() {
        let letter = booking_requested(&mail(Party::Host));
        assert_eq!(letter.subject, "New booking request: Sea <Cabin> & \"Co\", 10 Jun 2030 → 13 Jun 2030");
        assert!(letter.text().starts_with("Hi Hal,\n\nGia asked to stay at Sea <Cabin>"), "{}", letter.text());
        let mut gone = mail(Party::Host);
        gone.guest_name = None;
        assert!(booking_requested(&gone).text().contains("A guest asked to stay"));
    }

    #[test]
    fn user_data_is_escaped_in_the_html_part_only() {
        let letter = booking_requested(&mail(Party::Guest));
        let html = letter.html();
        assert!(html.contains("Sea &lt;Cabin&gt; &amp; &quot;Co&quot; in Porto"), "{html}");
        assert!(!html.contains("<Cabin>"), "{html}");
        assert!(html.contains("300.00 EUR<br>\nCleaning fee"), "lines break in HTML too: {html}");
        assert!(letter.text().contains("Sea <Cabin> & \"Co\" in Porto"));
    }

    #[test]
    fn a_cancellation_tells_who_cancelled_and_the_refund_in_major_units() {
        let mut guest_mail = mail(Party::Guest);
        guest_mail.booking.cancelled_by = Some(guest_mail.booking.guest_id);
        guest_mail.booking.refund_amount = Some(12_345);
        let letter = booking_cancelled(&guest_mail);
        assert_eq!(letter.subject, "Booking cancelled: Sea <Cabin> & \"Co\"");
        assert!(letter.text().contains("was cancelled by you."), "{}", letter.text());
        assert!(letter.text().contains("Refund: 123.45 EUR"), "{}", letter.text());

        let mut host_mail = mail(Party::Host);
        host_mail.booking.cancelled_by = Some(host_mail.booking.guest_id);
        host_mail.booking.refund_amount = Some(12_345);
        let text = booking_cancelled(&host_mail).text();
        assert!(text.contains("was cancelled by the guest."), "{text}");
        assert!(text.contains("Refund to the guest: 123.45 EUR"), "{text}");

        let mut unpaid = mail(Party::Guest);
        unpaid.booking.cancelled_by = Some(unpaid.booking.host_id);
        unpaid.booking.refund_amount = Some(0);
        let text = booking_cancelled(&unpaid).text();
        assert!(text.contains("was cancelled by the host."), "{text}");
        assert!(!text.contains("Refund"), "no refund line without a refund: {text}");
    }

    #[test]
    fn a_refund_in_a_zero_decimal_currency_has_no_decimals() {
        let mut m = mail(Party::Guest);
        m.booking.currency = "JPY".into();
        m.booking.refund_amount = Some(12_345);
        assert!(booking_cancelled(&m).text().contains("Refund: 12345 JPY"));
    }

    #[test]
    fn each_booking_email_has_its_own_subject() {
        let (guest, host) = (mail(Party::Guest), mail(Party::Host));
        assert_eq!(booking_changed(&guest).subject, "Your booking for Sea <Cabin> & \"Co\" changed");
        assert_eq!(
            booking_changed(&host).subject,
            "A booking for Sea <Cabin> & \"Co\" changed: 10 Jun 2030 → 13 Jun 2030"
        );
        assert_eq!(hold_expired(&guest).subject, "Your hold on Sea <Cabin> & \"Co\" expired");
        assert_eq!(review_invitation(&guest).subject, "How was your stay at Sea <Cabin> & \"Co\"?");
    }

    #[test]
    fn the_welcome_email_reads_as_before() {
        let letter = welcome(&user("Ana"));
        assert_eq!(letter.subject, "Welcome to Airbnb Clone, Ana");
        assert_eq!(
            letter.text(),
            "Hi Ana,\n\nyour account is ready. Search for a place to stay, or list your own.\n\nThe Airbnb Clone team\n"
        );
        assert_eq!(
            letter.html(),
            "<p>Hi Ana,</p><p>your account is ready. Search for a place to stay, or list your own.</p><p>The Airbnb Clone team</p>"
        );
    }
}
