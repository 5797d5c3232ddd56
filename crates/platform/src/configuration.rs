//! Layered configuration shared by every binary.
//!
//! Built-in defaults ← `config/default.toml` ← `config/{CONNECTOR_ENV}.toml` ← environment
//! variables `CONNECTOR__SECTION__KEY`. The directory is `CONNECTOR_CONFIG_DIR`, else `./config`
//! when it exists, else the built-in defaults alone, so a binary copied anywhere still starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// A configuration problem found at start-up; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The sources could not be read or a value has the wrong type.
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// A value has the right type but is not acceptable.
    #[error("configuration: invalid value for `{key}`: {reason}")]
    Invalid {
        /// The dotted key, e.g. `amqp.prefetch`.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Every setting of every service (see `config/default.toml` for one line on each key).
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// PostgreSQL.
    pub database: DatabaseSettings,
    /// RabbitMQ.
    pub amqp: AmqpSettings,
    /// The HTTP front.
    pub ingress: IngressSettings,
    /// Order and contact sync.
    pub order_processor: OrderProcessorSettings,
    /// Tracking forwarding.
    pub tracking_forwarder: TrackingForwarderSettings,
    /// Webhook registration upkeep.
    pub webhook_health: WebhookHealthSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Health/metrics listener of the consumer services.
    #[serde(default)]
    pub http: HttpSettings,
    /// Outbound calls to BigCommerce.
    pub bigcommerce: BigCommerceSettings,
    /// Outbound calls to Engage.
    pub engage: EngageSettings,
}

/// `database.*`
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Connection URL (`database.url`).
    pub url: SecretString,
    /// Pool size per process (`database.max_connections`).
    pub max_connections: usize,
    /// Apply pending migrations when a service starts (`database.migrate_on_start`).
    pub migrate_on_start: bool,
}

/// `amqp.*`
#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    /// Broker URL with the vhost (`amqp.url`).
    pub url: SecretString,
    /// Unacknowledged deliveries per consumer (`amqp.prefetch`).
    pub prefetch: u16,
    /// How long a publish waits for the broker's confirm (`amqp.confirm_timeout_ms`).
    pub confirm_timeout_ms: u64,
    /// Prefix for every exchange and queue name (`amqp.namespace`); empty in production,
    /// unique per test so tests sharing one broker never see each other's messages.
    pub namespace: String,
    /// Channels a publisher spreads its in-flight confirms over (`amqp.publisher_channels`).
    pub publisher_channels: usize,
}

/// `ingress.*`
#[derive(Debug, Clone, Deserialize)]
pub struct IngressSettings {
    /// Listen address (`ingress.listen`); port 0 picks a free one.
    pub listen: String,
    /// Webhook body limit in bytes (`ingress.max_body_bytes`).
    pub max_body_bytes: usize,
    /// Standard Webhooks timestamp window (`ingress.signature_tolerance_secs`).
    pub signature_tolerance_secs: i64,
    /// Sustained beacons per second per client IP (`ingress.beacons_per_ip_per_sec`).
    pub beacons_per_ip_per_sec: u32,
    /// Beacons a client IP may send at once (`ingress.beacon_burst`).
    pub beacon_burst: u32,
    /// HTTP worker threads (`ingress.workers`).
    pub workers: usize,
}

/// `order_processor.*`
#[derive(Debug, Clone, Deserialize)]
pub struct OrderProcessorSettings {
    /// Attempts per order sync before `failed` (`order_processor.max_attempts`).
    pub max_attempts: u32,
    /// First retry delay, doubling (`order_processor.retry_base_secs`).
    pub retry_base_secs: u64,
    /// Retry delay cap (`order_processor.retry_max_secs`).
    pub retry_max_secs: u64,
}

/// `tracking_forwarder.*`
#[derive(Debug, Clone, Deserialize)]
pub struct TrackingForwarderSettings {
    /// Retries of a product view on Engage 5xx (`tracking_forwarder.product_view_retries`).
    pub product_view_retries: u32,
    /// Retries of a cart (`tracking_forwarder.cart_retries`).
    pub cart_retries: u32,
    /// Product and category cache lifetime (`tracking_forwarder.cache_ttl_secs`).
    pub cache_ttl_secs: u64,
}

/// `webhook_health.*`
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookHealthSettings {
    /// Check period (`webhook_health.interval_secs`).
    pub interval_secs: u64,
    /// Public ingress URL registered in BigCommerce (`webhook_health.destination_url`).
    pub destination_url: String,
    /// Back-fill after re-activation (`webhook_health.backfill`).
    pub backfill: bool,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for production.
    Json,
}

/// `telemetry.*`
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// `pretty` or `json` (`telemetry.log_format`).
    pub log_format: LogFormat,
    /// OTLP/HTTP collector endpoint; unset means no exporter (`telemetry.otlp_endpoint`).
    pub otlp_endpoint: Option<String>,
    /// Default log filter when `RUST_LOG` is unset (`telemetry.log_level`).
    pub log_level: String,
}

/// `http.*`
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HttpSettings {
    /// `/healthz`, `/readyz`, `/metrics` listener of a consumer service (`http.metrics_listen`);
    /// each service has its own default.
    pub metrics_listen: Option<String>,
}

/// `bigcommerce.*`
#[derive(Debug, Clone, Deserialize)]
pub struct BigCommerceSettings {
    /// Per-request timeout (`bigcommerce.timeout_ms`).
    pub timeout_ms: u64,
    /// Retries of one call on 5xx, timeouts and 429 (`bigcommerce.max_retries`).
    pub max_retries: usize,
}

/// `engage.*`
#[derive(Debug, Clone, Deserialize)]
pub struct EngageSettings {
    /// Per-request timeout (`engage.timeout_ms`).
    pub timeout_ms: u64,
    /// Self-imposed request rate per API key; 0 disables the limiter
    /// (`engage.max_requests_per_sec`). Engage asks for under 50/s.
    pub max_requests_per_sec: u32,
}

/// The built-in defaults: the whole configuration when no file is found.
const DEFAULTS: &[(&str, DefaultValue)] = &[
    (
        "database.url",
        DefaultValue::Str("postgres://postgres@127.0.0.1:5432/connector"),
    ),
    ("database.max_connections", DefaultValue::Int(10)),
    ("database.migrate_on_start", DefaultValue::Bool(false)),
    (
        "amqp.url",
        DefaultValue::Str("amqp://guest:guest@127.0.0.1:5672/%2f"),
    ),
    ("amqp.prefetch", DefaultValue::Int(64)),
    ("amqp.confirm_timeout_ms", DefaultValue::Int(5000)),
    ("amqp.namespace", DefaultValue::Str("")),
    ("amqp.publisher_channels", DefaultValue::Int(4)),
    ("ingress.listen", DefaultValue::Str("127.0.0.1:8080")),
    ("ingress.max_body_bytes", DefaultValue::Int(1_048_576)),
    ("ingress.signature_tolerance_secs", DefaultValue::Int(300)),
    ("ingress.beacons_per_ip_per_sec", DefaultValue::Int(20)),
    ("ingress.beacon_burst", DefaultValue::Int(60)),
    ("ingress.workers", DefaultValue::Int(2)),
    ("order_processor.max_attempts", DefaultValue::Int(10)),
    ("order_processor.retry_base_secs", DefaultValue::Int(10)),
    ("order_processor.retry_max_secs", DefaultValue::Int(900)),
    (
        "tracking_forwarder.product_view_retries",
        DefaultValue::Int(3),
    ),
    ("tracking_forwarder.cart_retries", DefaultValue::Int(0)),
    ("tracking_forwarder.cache_ttl_secs", DefaultValue::Int(600)),
    ("webhook_health.interval_secs", DefaultValue::Int(300)),
    (
        "webhook_health.destination_url",
        DefaultValue::Str("https://connector.example.com/webhooks/bigcommerce"),
    ),
    ("webhook_health.backfill", DefaultValue::Bool(true)),
    ("telemetry.log_format", DefaultValue::Str("pretty")),
    ("telemetry.log_level", DefaultValue::Str("info")),
    ("bigcommerce.timeout_ms", DefaultValue::Int(10_000)),
    ("bigcommerce.max_retries", DefaultValue::Int(3)),
    ("engage.timeout_ms", DefaultValue::Int(10_000)),
    ("engage.max_requests_per_sec", DefaultValue::Int(45)),
];

enum DefaultValue {
    Str(&'static str),
    Int(i64),
    Bool(bool),
}

impl Settings {
    /// Loads the settings from the process environment (`CONNECTOR_CONFIG_DIR`,
    /// `CONNECTOR_ENV`, `CONNECTOR__…` variables) and validates them.
    pub fn load() -> Result<Self, ConfigError> {
        let dir = match std::env::var_os("CONNECTOR_CONFIG_DIR") {
            Some(dir) => Some(PathBuf::from(dir)),
            None => Some(PathBuf::from("config")).filter(|p| p.is_dir()),
        };
        let env = std::env::var("CONNECTOR_ENV").ok();
        let vars: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("CONNECTOR__"))
            .collect();
        Self::load_from(dir.as_deref(), env.as_deref(), vars)
    }

    /// Loads the settings from an explicit directory, environment name and variables: the
    /// testable core of [`Settings::load`].
    pub fn load_from(
        dir: Option<&Path>,
        env: Option<&str>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        for (key, value) in DEFAULTS {
            builder = match value {
                DefaultValue::Str(s) => builder.set_default(*key, *s)?,
                DefaultValue::Int(i) => builder.set_default(*key, *i)?,
                DefaultValue::Bool(b) => builder.set_default(*key, *b)?,
            };
        }
        if let Some(dir) = dir {
            builder =
                builder.add_source(config::File::from(dir.join("default.toml")).required(false));
            if let Some(env) = env {
                builder = builder.add_source(
                    config::File::from(dir.join(format!("{env}.toml"))).required(false),
                );
            }
        }
        let vars: config::Map<String, String> = vars.into_iter().collect();
        builder = builder.add_source(
            config::Environment::with_prefix("CONNECTOR")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(vars)),
        );
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret;
        let invalid = |key: &'static str, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_owned(),
        };
        let db = url::Url::parse(self.database.url.expose_secret())
            .map_err(|e| invalid("database.url", &e.to_string()))?;
        if !matches!(db.scheme(), "postgres" | "postgresql") {
            return Err(invalid("database.url", "expected a postgres:// URL"));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        let amqp = url::Url::parse(self.amqp.url.expose_secret())
            .map_err(|e| invalid("amqp.url", &e.to_string()))?;
        if !matches!(amqp.scheme(), "amqp" | "amqps") {
            return Err(invalid("amqp.url", "expected an amqp:// or amqps:// URL"));
        }
        if self.amqp.prefetch == 0 {
            return Err(invalid("amqp.prefetch", "must be at least 1"));
        }
        if self.amqp.confirm_timeout_ms == 0 {
            return Err(invalid("amqp.confirm_timeout_ms", "must be at least 1"));
        }
        if self.amqp.publisher_channels == 0 {
            return Err(invalid("amqp.publisher_channels", "must be at least 1"));
        }
        if !self
            .amqp
            .namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(
                "amqp.namespace",
                "only letters, digits, '-', '_' and '.'",
            ));
        }
        parse_listen(&self.ingress.listen).map_err(|r| invalid("ingress.listen", &r))?;
        if let Some(listen) = &self.http.metrics_listen {
            parse_listen(listen).map_err(|r| invalid("http.metrics_listen", &r))?;
        }
        if self.ingress.max_body_bytes == 0 {
            return Err(invalid("ingress.max_body_bytes", "must be at least 1"));
        }
        if self.ingress.signature_tolerance_secs <= 0 {
            return Err(invalid(
                "ingress.signature_tolerance_secs",
                "must be positive",
            ));
        }
        if self.ingress.beacons_per_ip_per_sec == 0 {
            return Err(invalid(
                "ingress.beacons_per_ip_per_sec",
                "must be at least 1",
            ));
        }
        if self.ingress.workers == 0 {
            return Err(invalid("ingress.workers", "must be at least 1"));
        }
        if self.order_processor.max_attempts == 0 {
            return Err(invalid(
                "order_processor.max_attempts",
                "must be at least 1",
            ));
        }
        if self.order_processor.retry_base_secs == 0 {
            return Err(invalid(
                "order_processor.retry_base_secs",
                "must be at least 1",
            ));
        }
        if self.order_processor.retry_max_secs < self.order_processor.retry_base_secs {
            return Err(invalid(
                "order_processor.retry_max_secs",
                "must not be below order_processor.retry_base_secs",
            ));
        }
        if self.webhook_health.interval_secs == 0 {
            return Err(invalid(
                "webhook_health.interval_secs",
                "must be at least 1",
            ));
        }
        let dest = url::Url::parse(&self.webhook_health.destination_url)
            .map_err(|e| invalid("webhook_health.destination_url", &e.to_string()))?;
        if !matches!(dest.scheme(), "http" | "https") {
            return Err(invalid(
                "webhook_health.destination_url",
                "expected an https:// URL",
            ));
        }
        if let Some(endpoint) = &self.telemetry.otlp_endpoint {
            url::Url::parse(endpoint)
                .map_err(|e| invalid("telemetry.otlp_endpoint", &e.to_string()))?;
        }
        Ok(())
    }

    /// The metrics listener of a consumer service: `http.metrics_listen`, or the service's
    /// own default.
    pub fn metrics_listen_or(&self, default: &str) -> SocketAddr {
        self.http
            .metrics_listen
            .as_deref()
            .and_then(|l| parse_listen(l).ok())
            .unwrap_or_else(|| parse_listen(default).expect("built-in default listen address"))
    }

    /// The confirm timeout as a duration.
    pub fn confirm_timeout(&self) -> Duration {
        Duration::from_millis(self.amqp.confirm_timeout_ms)
    }
}

/// Parses `host:port`, accepting `:PORT` as `127.0.0.1:PORT`.
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    let value = if value.starts_with(':') {
        format!("127.0.0.1{value}")
    } else {
        value.to_owned()
    };
    value
        .parse()
        .map_err(|_| format!("`{value}` is not an address like 127.0.0.1:8080"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn built_in_defaults_alone_are_a_complete_configuration() {
        let s = Settings::load_from(None, None, vars(&[])).unwrap();
        assert_eq!(s.amqp.prefetch, 64);
        assert_eq!(s.order_processor.max_attempts, 10);
        assert_eq!(s.order_processor.retry_base_secs, 10);
        assert_eq!(s.order_processor.retry_max_secs, 900);
        assert_eq!(s.tracking_forwarder.product_view_retries, 3);
        assert_eq!(s.tracking_forwarder.cart_retries, 0);
        assert_eq!(s.ingress.max_body_bytes, 1_048_576);
        assert_eq!(s.telemetry.log_format, LogFormat::Pretty);
        assert!(s.telemetry.otlp_endpoint.is_none());
        assert!(s.webhook_health.backfill);
        assert_eq!(s.webhook_health.interval_secs, 300);
        assert_eq!(s.ingress.signature_tolerance_secs, 300);
        assert_eq!(
            s.database.url.expose_secret(),
            "postgres://postgres@127.0.0.1:5432/connector"
        );
    }

    #[test]
    fn environment_variables_override_with_double_underscores() {
        let s = Settings::load_from(
            None,
            None,
            vars(&[
                ("CONNECTOR__AMQP__PREFETCH", "8"),
                ("CONNECTOR__ORDER_PROCESSOR__MAX_ATTEMPTS", "3"),
                ("CONNECTOR__TELEMETRY__LOG_FORMAT", "json"),
                ("CONNECTOR__WEBHOOK_HEALTH__BACKFILL", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(s.amqp.prefetch, 8);
        assert_eq!(s.order_processor.max_attempts, 3);
        assert_eq!(s.telemetry.log_format, LogFormat::Json);
        assert!(!s.webhook_health.backfill);
    }

    #[test]
    fn files_are_layered_default_then_environment_then_variables() {
        let dir = std::env::temp_dir().join(format!("connector-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("default.toml"),
            "[amqp]\nprefetch = 5\nconfirm_timeout_ms = 7\n",
        )
        .unwrap();
        std::fs::write(dir.join("production.toml"), "[amqp]\nprefetch = 6\n").unwrap();
        let s = Settings::load_from(Some(&dir), Some("production"), vars(&[])).unwrap();
        assert_eq!(s.amqp.prefetch, 6);
        assert_eq!(s.amqp.confirm_timeout_ms, 7);
        let s = Settings::load_from(
            Some(&dir),
            Some("production"),
            vars(&[("CONNECTOR__AMQP__PREFETCH", "9")]),
        )
        .unwrap();
        assert_eq!(s.amqp.prefetch, 9);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_value_of_the_wrong_type_fails_naming_the_key() {
        let err = Settings::load_from(None, None, vars(&[("CONNECTOR__AMQP__PREFETCH", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("amqp.prefetch"), "{err}");
    }

    #[test]
    fn an_unacceptable_value_fails_naming_the_key() {
        for (var, value, key) in [
            ("CONNECTOR__AMQP__PREFETCH", "0", "amqp.prefetch"),
            ("CONNECTOR__AMQP__URL", "http://x", "amqp.url"),
            ("CONNECTOR__DATABASE__URL", "not a url", "database.url"),
            ("CONNECTOR__INGRESS__LISTEN", "nowhere", "ingress.listen"),
            (
                "CONNECTOR__ORDER_PROCESSOR__MAX_ATTEMPTS",
                "0",
                "order_processor.max_attempts",
            ),
            (
                "CONNECTOR__ORDER_PROCESSOR__RETRY_MAX_SECS",
                "1",
                "order_processor.retry_max_secs",
            ),
            (
                "CONNECTOR__TELEMETRY__LOG_FORMAT",
                "xml",
                "telemetry.log_format",
            ),
        ] {
            let err = Settings::load_from(None, None, vars(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{var}={value}: {err}");
        }
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let s = Settings::load_from(
            None,
            None,
            vars(&[("CONNECTOR__AMQP__URL", "amqp://user:hunter2@host:5672/%2f")]),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn a_listen_address_may_omit_the_host() {
        assert_eq!(parse_listen(":0").unwrap().to_string(), "127.0.0.1:0");
        assert!(parse_listen("localhost").is_err());
    }
}
