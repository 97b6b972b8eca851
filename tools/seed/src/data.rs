//! The vocabulary seeded rows are drawn from: cities with their country,
//! currency, coordinates, share of listings and price level; names;
//! amenities with how common they are; words for titles and reviews.

/// A city listings are placed in.
pub struct City {
    pub name: &'static str,
    pub country: &'static str,
    pub currency: &'static str,
    pub latitude: f64,
    pub longitude: f64,
    /// Relative share of all listings.
    pub weight: u32,
    /// Typical nightly price of a one-bedroom, in minor units.
    pub base_price: i64,
}

macro_rules! cities {
    ($(($name:literal, $country:literal, $currency:literal, $lat:literal, $lon:literal, $weight:literal, $price:literal)),* $(,)?) => {
        &[$(City { name: $name, country: $country, currency: $currency, latitude: $lat, longitude: $lon,
                   weight: $weight, base_price: $price }),*]
    };
}

/// A long tail: a few cities hold most listings, as on the real market.
pub const CITIES: &[City] = cities![
    ("Paris", "France", "EUR", 48.8566, 2.3522, 900, 13000),
    ("London", "United Kingdom", "GBP", 51.5072, -0.1276, 850, 14000),
    ("New York", "United States", "USD", 40.7128, -74.0060, 800, 19000),
    ("Rome", "Italy", "EUR", 41.9028, 12.4964, 600, 11000),
    ("Barcelona", "Spain", "EUR", 41.3874, 2.1686, 550, 12000),
    ("Lisbon", "Portugal", "EUR", 38.7223, -9.1393, 500, 9000),
    ("Los Angeles", "United States", "USD", 34.0522, -118.2437, 480, 17000),
    ("Tokyo", "Japan", "JPY", 35.6762, 139.6503, 450, 15000),
    ("Berlin", "Germany", "EUR", 52.5200, 13.4050, 420, 9500),
    ("Amsterdam", "Netherlands", "EUR", 52.3676, 4.9041, 400, 16000),
    ("Madrid", "Spain", "EUR", 40.4168, -3.7038, 380, 10000),
    ("Sydney", "Australia", "AUD", -33.8688, 151.2093, 360, 20000),
    ("Miami", "United States", "USD", 25.7617, -80.1918, 340, 21000),
    ("Mexico City", "Mexico", "MXN", 19.4326, -99.1332, 320, 150000),
    ("Istanbul", "Turkey", "TRY", 41.0082, 28.9784, 300, 250000),
    ("Bangkok", "Thailand", "THB", 13.7563, 100.5018, 290, 150000),
    ("Rio de Janeiro", "Brazil", "BRL", -22.9068, -43.1729, 280, 40000),
    ("Cape Town", "South Africa", "ZAR", -33.9249, 18.4241, 250, 120000),
    ("Buenos Aires", "Argentina", "USD", -34.6037, -58.3816, 240, 6000),
    ("Prague", "Czech Republic", "CZK", 50.0755, 14.4378, 230, 220000),
    ("Vienna", "Austria", "EUR", 48.2082, 16.3738, 220, 10000),
    ("Toronto", "Canada", "CAD", 43.6532, -79.3832, 210, 16000),
    ("San Francisco", "United States", "USD", 37.7749, -122.4194, 200, 23000),
    ("Dubai", "United Arab Emirates", "AED", 25.2048, 55.2708, 190, 60000),
    ("Athens", "Greece", "EUR", 37.9838, 23.7275, 180, 8000),
    ("Florence", "Italy", "EUR", 43.7696, 11.2558, 170, 12000),
    ("Edinburgh", "United Kingdom", "GBP", 55.9533, -3.1883, 160, 12000),
    ("Copenhagen", "Denmark", "DKK", 55.6761, 12.5683, 150, 110000),
    ("Seoul", "South Korea", "KRW", 37.5665, 126.9780, 140, 120000),
    ("Bali", "Indonesia", "USD", -8.4095, 115.1889, 140, 8000),
    ("Marrakech", "Morocco", "EUR", 31.6295, -7.9811, 120, 7000),
    ("Dublin", "Ireland", "EUR", 53.3498, -6.2603, 110, 15000),
    ("Nice", "France", "EUR", 43.7102, 7.2620, 100, 14000),
    ("Porto", "Portugal", "EUR", 41.1579, -8.6291, 100, 8000),
    ("Kyoto", "Japan", "JPY", 35.0116, 135.7681, 90, 18000),
    ("Reykjavik", "Iceland", "EUR", 64.1466, -21.9426, 60, 18000),
    ("Hallstatt", "Austria", "EUR", 47.5622, 13.6493, 20, 15000),
    ("Chamonix", "France", "EUR", 45.9237, 6.8694, 30, 20000),
    ("Tulum", "Mexico", "USD", 20.2114, -87.4654, 50, 15000),
    ("Queenstown", "New Zealand", "NZD", -45.0312, 168.6626, 25, 22000),
];

/// Amenities and the share of listings that have each.
pub const AMENITIES: &[(&str, f64)] = &[
    ("wifi", 0.92),
    ("kitchen", 0.75),
    ("heating", 0.6),
    ("tv", 0.55),
    ("washer", 0.5),
    ("air conditioning", 0.4),
    ("dryer", 0.35),
    ("parking", 0.35),
    ("workspace", 0.3),
    ("balcony", 0.25),
    ("elevator", 0.2),
    ("pets allowed", 0.15),
    ("pool", 0.12),
    ("fireplace", 0.08),
    ("gym", 0.08),
    ("hot tub", 0.07),
    ("beach access", 0.05),
    ("ev charger", 0.03),
];

pub const FIRST_NAMES: &[&str] = &[
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Lucas", "Mia", "Leo", "Sofia", "Hugo", "Chloe", "Mateo", "Yuki", "Aiko",
    "Chen", "Wei", "Priya", "Arjun", "Fatima", "Omar", "Ana", "João", "Lea", "Jonas", "Elena", "Marco", "Sara",
    "David", "Nora", "Ingrid", "Kwame", "Amara", "Ivan", "Olga", "Zoe", "Finn",
];

pub const LAST_NAMES: &[&str] = &[
    "Smith",
    "Martin",
    "García",
    "Rossi",
    "Müller",
    "Dubois",
    "Silva",
    "Kim",
    "Tanaka",
    "Nguyen",
    "Johnson",
    "Kowalski",
    "Novak",
    "Jensen",
    "Papadopoulos",
    "Okafor",
    "Haddad",
    "Singh",
    "Chen",
    "López",
    "Costa",
    "Schmidt",
    "Brown",
    "Wilson",
    "Moreau",
    "Bianchi",
    "Yilmaz",
    "Sato",
    "Andersson",
    "O'Brien",
];

pub const ADJECTIVES: &[&str] = &[
    "Sunny", "Cosy", "Quiet", "Bright", "Charming", "Modern", "Rustic", "Spacious", "Elegant", "Stylish", "Peaceful",
    "Historic", "Airy", "Central", "Hidden",
];

/// Kinds of place by bedrooms: studios and lofts are small, houses large.
pub const SMALL_KINDS: &[&str] = &["studio", "loft", "flat", "room", "apartment"];
pub const LARGE_KINDS: &[&str] = &["house", "villa", "townhouse", "cottage", "apartment", "cabin"];

pub const FEATURES: &[&str] = &[
    "near the beach",
    "in the old town",
    "with a garden",
    "with a view",
    "close to the station",
    "by the river",
    "with a terrace",
    "near the park",
    "in a quiet street",
    "next to the market",
];

pub const DESCRIPTIONS: &[&str] = &[
    "Light-filled rooms, a comfortable bed and fast wifi.",
    "Walk to cafés, museums and the best restaurants in town.",
    "Fully equipped kitchen and a washer for longer stays.",
    "Perfect for families: cots and high chairs on request.",
    "Self check-in with a keypad; we are a message away.",
    "Freshly renovated with original details kept.",
    "Public transport at the door, the airport 30 minutes away.",
    "A calm base for remote work, with a proper desk and chair.",
    "Sunrise over the rooftops from the breakfast table.",
    "Bikes available for guests to explore the neighbourhood.",
];

pub const REVIEW_COMMENTS: &[&str] = &[
    "Wonderful stay, exactly as described.",
    "Great location and a very responsive host.",
    "Clean, quiet and comfortable. Would come back.",
    "Nice place but the wifi was slow.",
    "The photos do not do it justice!",
    "A bit noisy at night, otherwise fine.",
    "Check-in was easy and the bed was great.",
    "Not as clean as expected.",
    "Perfect for our family holiday.",
    "",
];
