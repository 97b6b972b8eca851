//! Typed configuration read from the environment (12-factor).
//!
//! Every variable has a documented local default so that a fresh checkout runs
//! with no setup; outside local mode (`APP_ENV=production`) the secrets must be
//! set. A missing or malformed value fails start-up with one line naming it.

use std::{net::SocketAddr, time::Duration};

use secrecy::{ExposeSecret, SecretString};

/// Where the process runs; decides whether dev-only defaults are acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Local,
    Production,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

const DEV_JWT_SECRET: &str = "dev-only-jwt-secret-do-not-use-in-production-0123456789";
const DEV_STRIPE_KEY: &str = "sk_test_dev_only_standin";
const DEV_WEBHOOK_SECRET: &str = "whsec_dev_only_secret";

/// The whole configuration of both binaries.
#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    /// A read replica for lists and later search pages; `None` reads the
    /// primary.
    pub database_read_url: Option<SecretString>,
    pub redis_url: SecretString,
    /// Prefix of every Redis key and queue this deployment owns; tests use a
    /// unique one each so that they never see each other's data.
    pub redis_namespace: String,
    pub api_addr: SocketAddr,
    pub jwt_secret: SecretString,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub smtp_url: SecretString,
    pub mail_from: String,
    pub log_filter: String,
    pub log_format: LogFormat,
    pub worker_concurrency: usize,
    /// How often the outbox relay looks for rows it was not woken for
    /// (rows left by a crash or a Redis outage).
    pub outbox_poll_interval: Duration,
    /// How often a worker polls its queues, and how long after a worker
    /// stops beating its in-flight jobs are handed to another one.
    pub queue_poll_interval: Duration,
    pub worker_heartbeat: Duration,
    /// First pause between attempts of a failing job; it doubles, up to 60 s.
    pub job_retry_base: Duration,
    pub rate_limits: RateLimits,
    /// `CACHE=off` serves every read from PostgreSQL (benchmarks, and to
    /// rule the cache out); writes still bump versions, so other processes
    /// with the cache on stay fresh.
    pub cache_enabled: bool,
    pub stripe_secret_key: SecretString,
    /// Stripe's base URL; `None` means the real Stripe.
    pub stripe_api_base: Option<String>,
    pub stripe_webhook_secret: SecretString,
}

/// Request budgets, counted in Redis so every API process shares them.
#[derive(Clone, Debug)]
pub struct RateLimits {
    /// `RATE_LIMITS=off` turns every limit off (benchmarks).
    pub enabled: bool,
    /// Failed sign-ins per account per window.
    pub login_per_account: u64,
    /// Sign-in attempts per client IP per window.
    pub login_per_ip: u64,
    pub login_window: Duration,
    /// Requests per client (signed-in user, else IP) per window.
    pub requests_per_client: u64,
    pub requests_window: Duration,
    /// Proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`:
    /// addresses or CIDR ranges, comma-separated; none by default).
    pub trusted_proxies: Vec<IpRange>,
}

/// An IP address range in CIDR notation (a bare address is one address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    network: std::net::IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
            if prefix == 0 { 0 } else { bits >> (width - prefix) }
        }
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), 32, self.prefix) == masked(u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix) == masked(u128::from(ip), 128, self.prefix)
            }
            (IpAddr::V4(_), IpAddr::V6(ip)) => ip.to_ipv4_mapped().is_some_and(|ip| self.contains(ip.into())),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

impl std::str::FromStr for IpRange {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let (address, prefix) = raw.trim().split_once('/').map_or((raw.trim(), None), |(a, p)| (a, Some(p)));
        let network: std::net::IpAddr = address.parse().map_err(|_| format!("{raw:?} is not an IP address"))?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= width).ok_or_else(|| format!("bad prefix in {raw:?}"))?,
        };
        Ok(Self { network, prefix })
    }
}

/// A configuration variable that is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests can feed their own.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let environment = match get("APP_ENV").as_deref() {
            None | Some("local") => Environment::Local,
            Some("production") => Environment::Production,
            Some(other) => return Err(invalid("APP_ENV", format!("expected local or production, got {other:?}"))),
        };
        let jwt_secret = match (get("JWT_SECRET"), environment) {
            (Some(secret), _) if secret.len() < 32 => {
                return Err(invalid("JWT_SECRET", "must be at least 32 bytes".into()));
            }
            (Some(secret), _) => secret,
            (None, Environment::Local) => DEV_JWT_SECRET.to_owned(),
            (None, Environment::Production) => {
                return Err(invalid("JWT_SECRET", "required when APP_ENV=production".into()));
            }
        };
        let stripe_key = secret_or_dev(&get, environment, "STRIPE_SECRET_KEY", DEV_STRIPE_KEY)?;
        let webhook_secret = secret_or_dev(&get, environment, "STRIPE_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET)?;
        let stripe_api_base = match get("STRIPE_API_BASE") {
            Some(base) if !(base.starts_with("http://") || base.starts_with("https://")) => {
                return Err(invalid("STRIPE_API_BASE", "must be an http(s) URL".into()));
            }
            base => base.map(|b| b.trim_end_matches('/').to_owned()),
        };
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("LOG_FORMAT", format!("expected text or json, got {other:?}"))),
        };
        let parsed = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            Ok(get(name).unwrap_or_else(|| default.to_owned()))
        };
        let namespace = parsed("REDIS_NAMESPACE", "airbnb")?;
        if !namespace.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(invalid("REDIS_NAMESPACE", "letters, digits, '-' and '_' only".into()));
        }
        Ok(Self {
            environment,
            database_url: parsed("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/airbnb?sslmode=disable")?.into(),
            database_max_connections: number(&get, "DATABASE_MAX_CONNECTIONS", 10)?,
            database_read_url: get("DATABASE_READ_URL").filter(|url| !url.is_empty()).map(SecretString::from),
            redis_url: parsed("REDIS_URL", "redis://127.0.0.1:6379")?.into(),
            redis_namespace: namespace,
            api_addr: parsed("API_ADDR", "127.0.0.1:8080")?.parse().map_err(|e| invalid("API_ADDR", format!("{e}")))?,
            jwt_secret: jwt_secret.into(),
            access_token_ttl: Duration::from_secs(number(&get, "ACCESS_TOKEN_TTL_SECS", 900)?),
            refresh_token_ttl: Duration::from_secs(number(&get, "REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600)?),
            smtp_url: parsed("SMTP_URL", "smtp://127.0.0.1:1025")?.into(),
            mail_from: parsed("MAIL_FROM", "Airbnb Clone <no-reply@localhost>")?,
            log_filter: parsed("RUST_LOG", "info")?,
            log_format,
            worker_concurrency: number(&get, "WORKER_CONCURRENCY", 16)?,
            outbox_poll_interval: Duration::from_millis(number(&get, "OUTBOX_POLL_INTERVAL_MS", 1000)?),
            queue_poll_interval: Duration::from_millis(number(&get, "QUEUE_POLL_INTERVAL_MS", 100)?),
            worker_heartbeat: Duration::from_secs(number(&get, "WORKER_HEARTBEAT_SECS", 5)?),
            job_retry_base: Duration::from_millis(number(&get, "JOB_RETRY_BASE_MS", 1000)?),
            rate_limits: RateLimits {
                enabled: match get("RATE_LIMITS").as_deref() {
                    None | Some("on") => true,
                    Some("off") => false,
                    Some(other) => return Err(invalid("RATE_LIMITS", format!("expected on or off, got {other:?}"))),
                },
                login_per_account: number(&get, "LOGIN_LIMIT_PER_ACCOUNT", 5)?,
                login_per_ip: number(&get, "LOGIN_LIMIT_PER_IP", 20)?,
                login_window: Duration::from_secs(number(&get, "LOGIN_LIMIT_WINDOW_SECS", 900)?),
                requests_per_client: number(&get, "REQUEST_LIMIT_PER_CLIENT", 600)?,
                requests_window: Duration::from_secs(number(&get, "REQUEST_LIMIT_WINDOW_SECS", 60)?),
                trusted_proxies: get("TRUSTED_PROXIES")
                    .unwrap_or_default()
                    .split(',')
                    .filter(|part| !part.trim().is_empty())
                    .map(str::parse)
                    .collect::<Result<_, String>>()
                    .map_err(|reason| invalid("TRUSTED_PROXIES", reason))?,
            },
            cache_enabled: match get("CACHE").as_deref() {
                None | Some("on") => true,
                Some("off") => false,
                Some(other) => return Err(invalid("CACHE", format!("expected on or off, got {other:?}"))),
            },
            stripe_secret_key: stripe_key.into(),
            stripe_api_base,
            stripe_webhook_secret: webhook_secret.into(),
        })
    }

    /// The local defaults, as a fresh checkout gets them.
    pub fn local() -> Self {
        Self::from_lookup(|_| None).expect("BUG: the local defaults are valid")
    }

    /// True when a dev-only secret is in use (worth a warning at start-up).
    pub fn uses_dev_secrets(&self) -> bool {
        self.jwt_secret.expose_secret() == DEV_JWT_SECRET
            || self.stripe_secret_key.expose_secret() == DEV_STRIPE_KEY
            || self.stripe_webhook_secret.expose_secret() == DEV_WEBHOOK_SECRET
    }

    /// A Stripe test key: payments may then default to the test card.
    pub fn stripe_test_mode(&self) -> bool {
        self.stripe_secret_key.expose_secret().starts_with("sk_test_")
    }

    /// A Redis key or queue name inside this deployment's namespace.
    pub fn redis_key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.redis_namespace)
    }
}

/// A secret that must be set outside local mode.
fn secret_or_dev(
    get: &impl Fn(&str) -> Option<String>,
    environment: Environment,
    name: &'static str,
    dev: &str,
) -> Result<String, ConfigError> {
    match (get(name), environment) {
        (Some(secret), _) => Ok(secret),
        (None, Environment::Local) => Ok(dev.to_owned()),
        (None, Environment::Production) => Err(invalid(name, "required when APP_ENV=production".into())),
    }
}

fn invalid(name: &'static str, reason: String) -> ConfigError {
    ConfigError { name, reason }
}

fn number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match get(name) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|e| invalid(name, format!("{raw:?}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn trusted_proxies_are_addresses_or_cidr_ranges() {
        let config = with(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,::1")]).unwrap();
        let ranges = &config.rate_limits.trusted_proxies;
        assert_eq!(ranges.len(), 3);
        let trusted = |ip: &str| ranges.iter().any(|r| r.contains(ip.parse().unwrap()));
        assert!(trusted("10.200.3.4") && trusted("192.168.1.7") && trusted("::1") && trusted("::ffff:10.0.0.1"));
        assert!(!trusted("11.0.0.1") && !trusted("192.168.1.8") && !trusted("::2"));
        assert!(with(&[]).unwrap().rate_limits.trusted_proxies.is_empty());
        for bad in ["10.0.0.0/33", "proxy.local", "10.0.0.1/x"] {
            assert_eq!(with(&[("TRUSTED_PROXIES", bad)]).unwrap_err().name, "TRUSTED_PROXIES", "{bad}");
        }
    }

    #[test]
    fn local_defaults_need_no_environment() {
        let config = with(&[]).unwrap();
        assert_eq!(config.api_addr.to_string(), "127.0.0.1:8080");
        assert!(config.uses_dev_secrets());
    }

    #[test]
    fn production_refuses_to_start_without_its_secrets() {
        let err = with(&[("APP_ENV", "production")]).unwrap_err();
        assert_eq!(err.name, "JWT_SECRET");
        let jwt = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
        let err = with(&[("APP_ENV", "production"), jwt]).unwrap_err();
        assert_eq!(err.name, "STRIPE_SECRET_KEY");
        let key = ("STRIPE_SECRET_KEY", "sk_live_x");
        assert_eq!(with(&[("APP_ENV", "production"), jwt, key]).unwrap_err().name, "STRIPE_WEBHOOK_SECRET");
        let config = with(&[("APP_ENV", "production"), jwt, key, ("STRIPE_WEBHOOK_SECRET", "whsec_x")]).unwrap();
        assert!(!config.uses_dev_secrets() && !config.stripe_test_mode() && config.stripe_api_base.is_none());
    }

    #[test]
    fn a_malformed_value_names_its_variable() {
        let err = with(&[("API_ADDR", "not an address")]).unwrap_err();
        assert_eq!(err.name, "API_ADDR");
        let err = with(&[("WORKER_CONCURRENCY", "many")]).unwrap_err();
        assert_eq!(err.name, "WORKER_CONCURRENCY");
        assert!(err.to_string().starts_with("invalid configuration: WORKER_CONCURRENCY"));
    }

    #[test]
    fn the_cache_is_on_unless_turned_off() {
        assert!(with(&[]).unwrap().cache_enabled);
        assert!(!with(&[("CACHE", "off")]).unwrap().cache_enabled);
        assert_eq!(with(&[("CACHE", "maybe")]).unwrap_err().name, "CACHE");
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        assert_eq!(with(&[("JWT_SECRET", "short")]).unwrap_err().name, "JWT_SECRET");
    }
}
