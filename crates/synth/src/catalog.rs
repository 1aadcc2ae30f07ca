//! The generator's vocabulary: services, hosts, levels, formats and the
//! message templates every entry is drawn from.

use serde::Serialize;

/// Severity as the ground truth names it (the `logs.level` vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Level {
    /// Verbose diagnostics.
    #[serde(rename = "DEBUG")]
    Debug,
    /// Normal operation.
    #[serde(rename = "INFO")]
    Info,
    /// Something unexpected but handled.
    #[serde(rename = "WARN")]
    Warn,
    /// A failed operation.
    #[serde(rename = "ERROR")]
    Error,
    /// The process (or a worker) died.
    #[serde(rename = "FATAL")]
    Fatal,
}

impl Level {
    /// Upper-case name (`INFO`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    pub(crate) fn lower(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// RFC 5424 severity number.
    pub(crate) fn syslog_severity(self) -> u8 {
        match self {
            Level::Debug => 7,
            Level::Info => 6,
            Level::Warn => 4,
            Level::Error => 3,
            Level::Fatal => 2,
        }
    }
}

/// How an entry is written. Decided per entry, so one file mixes all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `2026-03-02T00:00:01.234Z INFO [orders] message`
    Plain,
    /// One JSON object per line (or pretty-printed over several lines).
    Json,
    /// `ts=… level=info service=auth host=auth-1 msg="…"`
    Logfmt,
    /// RFC 3164 BSD syslog: `<134>Mar  2 00:00:01 inv-1 inventory[812]: …`
    Syslog3164,
    /// RFC 5424 syslog: `<134>1 2026-03-02T00:00:01.234Z inv-1 inventory 812 STOCK - …`
    Syslog5424,
    /// nginx/Apache combined access log.
    Access,
    /// Not a log format at all: binary/NUL garbage.
    Binary,
}

impl Format {
    /// The name used in the truth file (`syslog3164`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Json => "json",
            Format::Logfmt => "logfmt",
            Format::Syslog3164 => "syslog3164",
            Format::Syslog5424 => "syslog5424",
            Format::Access => "access",
            Format::Binary => "binary",
        }
    }
}

/// Kind of multi-line entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Multiline {
    /// Java stack trace with `Caused by:` and `... N more`.
    Java,
    /// Python `Traceback (most recent call last):`.
    Python,
    /// Go `panic:` with goroutine dump.
    Go,
    /// A JSON object pretty-printed over several lines.
    JsonPretty,
}

impl Multiline {
    /// The name used in the truth file (`json_pretty`).
    pub fn as_str(self) -> &'static str {
        match self {
            Multiline::Java => "java",
            Multiline::Python => "python",
            Multiline::Go => "go",
            Multiline::JsonPretty => "json_pretty",
        }
    }
}

/// The ways an entry is deliberately broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Malformed {
    /// A JSON line with balanced braces but invalid syntax.
    BrokenJson,
    /// Latin-1 bytes inside an otherwise UTF-8 line.
    InvalidUtf8,
    /// NUL-led binary garbage (never contains `\n` or `\r`).
    Binary,
    /// One line of [`crate::SynthConfig::overlong_bytes`] bytes.
    Overlong,
    /// A plain-text entry without a timestamp.
    NoTimestamp,
}

impl Malformed {
    pub(crate) const ALL: [Malformed; 5] = [
        Malformed::BrokenJson,
        Malformed::InvalidUtf8,
        Malformed::Binary,
        Malformed::Overlong,
        Malformed::NoTimestamp,
    ];

    /// The name used in the truth file (`broken_json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::BrokenJson => "broken_json",
            Malformed::InvalidUtf8 => "invalid_utf8",
            Malformed::Binary => "binary",
            Malformed::Overlong => "overlong",
            Malformed::NoTimestamp => "no_timestamp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    ApiGateway,
    Auth,
    Orders,
    Payments,
    Inventory,
    Worker,
}

impl Service {
    pub(crate) const ALL: [Service; 6] = [
        Service::ApiGateway,
        Service::Auth,
        Service::Orders,
        Service::Payments,
        Service::Inventory,
        Service::Worker,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Service::ApiGateway => "api-gateway",
            Service::Auth => "auth",
            Service::Orders => "orders",
            Service::Payments => "payments",
            Service::Inventory => "inventory",
            Service::Worker => "worker",
        }
    }

    pub(crate) fn hosts(self) -> &'static [&'static str] {
        match self {
            Service::ApiGateway => &["gw-1", "gw-2"],
            Service::Auth => &["auth-1", "auth-2"],
            Service::Orders => &["orders-1", "orders-2", "orders-3"],
            Service::Payments => &["pay-1", "pay-2"],
            Service::Inventory => &["inv-1", "inv-2"],
            Service::Worker => &["worker-1", "worker-2", "worker-3"],
        }
    }

    /// Relative share of entries.
    pub(crate) fn weight(self) -> u64 {
        match self {
            Service::ApiGateway => 30,
            Service::Auth => 12,
            Service::Orders => 18,
            Service::Payments => 14,
            Service::Inventory => 12,
            Service::Worker => 14,
        }
    }

    /// Formats used for templates that do not fix one, with weights.
    pub(crate) fn formats(self) -> &'static [(Format, u64)] {
        match self {
            Service::ApiGateway => &[(Format::Json, 1)],
            Service::Auth => &[(Format::Logfmt, 7), (Format::Plain, 3)],
            Service::Orders => &[(Format::Plain, 8), (Format::Logfmt, 2)],
            Service::Payments => &[(Format::Json, 1)],
            Service::Inventory => &[(Format::Syslog3164, 1), (Format::Syslog5424, 1)],
            Service::Worker => &[(Format::Plain, 5), (Format::Json, 3), (Format::Logfmt, 2)],
        }
    }
}

/// How one `<*>` of a template is filled.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param {
    Int(u64, u64),
    /// A duration; the latency incident overrides its range.
    Millis(u64, u64),
    InternalIp,
    ClientIp,
    /// The entry's own timestamp in CLF form (`02/Mar/2026:00:00:01 +0000`).
    ClfTime,
    Sku,
    Hex(usize),
    Choice(&'static [&'static str]),
    User,
    UserAgent,
}

pub(crate) struct Template {
    pub(crate) name: &'static str,
    pub(crate) service: Service,
    /// `None` for access-log lines, which carry no level.
    pub(crate) level: Option<Level>,
    /// Relative weight inside the service; 0 = only used explicitly.
    pub(crate) weight: u64,
    pub(crate) text: &'static str,
    pub(crate) params: &'static [Param],
    pub(crate) format: Option<Format>,
    pub(crate) multiline: Option<Multiline>,
}

pub(crate) const UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "okhttp/4.12.0",
    "curl/8.5.0",
];
const STATUS_GET: &[&str] = &[
    "200", "200", "200", "200", "200", "200", "200", "200", "200", "304", "404", "500",
];
const STATUS_POST: &[&str] = &[
    "201", "201", "201", "201", "201", "201", "400", "409", "502",
];
const STATUS_LOGIN: &[&str] = &["200", "200", "200", "200", "401", "429"];
const ORDER_STATES: &[&str] = &[
    "CREATED",
    "PAID",
    "PACKED",
    "SHIPPED",
    "DELIVERED",
    "CANCELLED",
];
const UPSTREAMS: &[&str] = &[
    "orders-1:8080",
    "orders-2:8080",
    "orders-3:8080",
    "auth-1:9000",
    "auth-2:9000",
    "inv-1:7070",
];
const ROUTES: &[&str] = &[
    "/api/v1/orders",
    "/api/v1/products",
    "/api/v1/auth/login",
    "/api/v1/cart",
];
const DECLINES: &[&str] = &[
    "insufficient_funds",
    "expired_card",
    "do_not_honor",
    "incorrect_cvc",
];
const PROVIDERS: &[&str] = &["stripe", "adyen", "braintree"];
const WAREHOUSES: &[&str] = &["AMS-1", "FRA-2", "DUB-1", "WAW-3"];
const JOB_TYPES: &[&str] = &[
    "send_email",
    "generate_invoice",
    "sync_catalog",
    "resize_image",
    "export_report",
];
const QUEUES: &[&str] = &["default", "emails", "invoices", "media"];
const CLIENTS: &[&str] = &["web-frontend", "ios-app", "android-app", "partner-acme"];
const BROKERS: &[&str] = &["amqp://mq-1:5672", "amqp://mq-2:5672"];
const NODES: &[&str] = &["cache-1", "cache-2", "cache-3", "cache-4"];

use Param::*;

/// Every template the generator can emit. Texts are unique (tested).
pub(crate) const TEMPLATES: &[Template] = &[
    // api-gateway: access log lines (whole line is the template) + JSON events
    Template {
        name: "gateway.get_order",
        service: Service::ApiGateway,
        level: None,
        weight: 10,
        text: "<*> - - [<*>] \"GET /api/v1/orders/<*> HTTP/1.1\" <*> <*> \"-\" \"<*>\"",
        params: &[
            ClientIp,
            ClfTime,
            Int(100_000, 999_999),
            Choice(STATUS_GET),
            Int(180, 4200),
            UserAgent,
        ],
        format: Some(Format::Access),
        multiline: None,
    },
    Template {
        name: "gateway.post_order",
        service: Service::ApiGateway,
        level: None,
        weight: 5,
        text: "<*> - - [<*>] \"POST /api/v1/orders HTTP/1.1\" <*> <*> \"https://shop.example.com/cart\" \"<*>\"",
        params: &[
            ClientIp,
            ClfTime,
            Choice(STATUS_POST),
            Int(90, 900),
            UserAgent,
        ],
        format: Some(Format::Access),
        multiline: None,
    },
    Template {
        name: "gateway.list_products",
        service: Service::ApiGateway,
        level: None,
        weight: 8,
        text: "<*> - - [<*>] \"GET /api/v1/products?page=<*> HTTP/1.1\" <*> <*> \"https://shop.example.com/\" \"<*>\"",
        params: &[
            ClientIp,
            ClfTime,
            Int(1, 40),
            Choice(STATUS_GET),
            Int(2000, 48_000),
            UserAgent,
        ],
        format: Some(Format::Access),
        multiline: None,
    },
    Template {
        name: "gateway.login",
        service: Service::ApiGateway,
        level: None,
        weight: 4,
        text: "<*> - - [<*>] \"POST /api/v1/auth/login HTTP/1.1\" <*> <*> \"-\" \"<*>\"",
        params: &[
            ClientIp,
            ClfTime,
            Choice(STATUS_LOGIN),
            Int(60, 400),
            UserAgent,
        ],
        format: Some(Format::Access),
        multiline: None,
    },
    Template {
        name: "gateway.healthz",
        service: Service::ApiGateway,
        level: None,
        weight: 3,
        text: "<*> - - [<*>] \"GET /healthz HTTP/1.1\" 200 <*> \"-\" \"kube-probe/1.29\"",
        params: &[InternalIp, ClfTime, Int(2, 2)],
        format: Some(Format::Access),
        multiline: None,
    },
    Template {
        name: "gateway.upstream_unhealthy",
        service: Service::ApiGateway,
        level: Some(Level::Warn),
        weight: 1,
        text: "upstream <*> marked unhealthy after <*> consecutive failures",
        params: &[Choice(UPSTREAMS), Int(3, 10)],
        format: None,
        multiline: None,
    },
    Template {
        name: "gateway.rate_limited",
        service: Service::ApiGateway,
        level: Some(Level::Warn),
        weight: 2,
        text: "rate limit exceeded for client <*> on route <*>",
        params: &[Choice(CLIENTS), Choice(ROUTES)],
        format: None,
        multiline: None,
    },
    Template {
        name: "gateway.routes_reloaded",
        service: Service::ApiGateway,
        level: Some(Level::Info),
        weight: 1,
        text: "route table reloaded with <*> routes in <*>ms",
        params: &[Int(40, 48), Millis(2, 30)],
        format: None,
        multiline: None,
    },
    // auth
    Template {
        name: "auth.login_ok",
        service: Service::Auth,
        level: Some(Level::Info),
        weight: 50,
        text: "user <*> logged in from <*>",
        params: &[User, ClientIp],
        format: None,
        multiline: None,
    },
    Template {
        name: "auth.login_failed",
        service: Service::Auth,
        level: Some(Level::Warn),
        weight: 10,
        text: "login failed for user <*> from <*>: invalid password",
        params: &[User, ClientIp],
        format: None,
        multiline: None,
    },
    Template {
        name: "auth.token_issued",
        service: Service::Auth,
        level: Some(Level::Info),
        weight: 30,
        text: "issued token for client <*> expires in <*>s",
        params: &[Choice(CLIENTS), Choice(&["900", "3600", "86400"])],
        format: None,
        multiline: None,
    },
    Template {
        name: "auth.session_expired",
        service: Service::Auth,
        level: Some(Level::Debug),
        weight: 20,
        text: "session <*> expired after <*>s idle",
        params: &[Hex(16), Int(900, 7200)],
        format: None,
        multiline: None,
    },
    Template {
        name: "auth.ldap_down",
        service: Service::Auth,
        level: Some(Level::Error),
        weight: 1,
        text: "LDAP bind to <*> failed: connection refused",
        params: &[Choice(&["ldap://dc-1:389", "ldap://dc-2:389"])],
        format: None,
        multiline: None,
    },
    // orders
    Template {
        name: "orders.created",
        service: Service::Orders,
        level: Some(Level::Info),
        weight: 60,
        text: "order <*> created for user <*> in <*>ms",
        params: &[Int(100_000, 999_999), Int(1, 50_000), Millis(4, 90)],
        format: None,
        multiline: None,
    },
    Template {
        name: "orders.status_changed",
        service: Service::Orders,
        level: Some(Level::Info),
        weight: 40,
        text: "order <*> status changed from <*> to <*>",
        params: &[
            Int(100_000, 999_999),
            Choice(ORDER_STATES),
            Choice(ORDER_STATES),
        ],
        format: None,
        multiline: None,
    },
    Template {
        name: "orders.cart_fetched",
        service: Service::Orders,
        level: Some(Level::Debug),
        weight: 30,
        text: "fetched cart for user <*> with <*> items",
        params: &[Int(1, 50_000), Int(0, 25)],
        format: None,
        multiline: None,
    },
    Template {
        name: "orders.rejected",
        service: Service::Orders,
        level: Some(Level::Warn),
        weight: 6,
        text: "order <*> rejected: insufficient stock for sku <*>",
        params: &[Int(100_000, 999_999), Sku],
        format: None,
        multiline: None,
    },
    Template {
        name: "orders.unhandled",
        service: Service::Orders,
        level: Some(Level::Error),
        weight: 2,
        text: "unhandled exception while processing order <*>",
        params: &[Int(100_000, 999_999)],
        format: Some(Format::Plain),
        multiline: Some(Multiline::Java),
    },
    // payments
    Template {
        name: "payments.authorized",
        service: Service::Payments,
        level: Some(Level::Info),
        weight: 50,
        text: "charge <*> authorized for <*> cents",
        params: &[Hex(12), Int(99, 250_000)],
        format: None,
        multiline: None,
    },
    Template {
        name: "payments.refund",
        service: Service::Payments,
        level: Some(Level::Info),
        weight: 10,
        text: "refund <*> issued for order <*>",
        params: &[Hex(12), Int(100_000, 999_999)],
        format: None,
        multiline: None,
    },
    Template {
        name: "payments.declined",
        service: Service::Payments,
        level: Some(Level::Warn),
        weight: 10,
        text: "card declined for customer <*>: <*>",
        params: &[Int(1, 50_000), Choice(DECLINES)],
        format: None,
        multiline: None,
    },
    Template {
        name: "payments.provider_timeout",
        service: Service::Payments,
        level: Some(Level::Error),
        weight: 2,
        text: "payment provider <*> timed out after <*>ms",
        params: &[Choice(PROVIDERS), Millis(5000, 30_000)],
        format: None,
        multiline: None,
    },
    Template {
        name: "payments.webhook",
        service: Service::Payments,
        level: Some(Level::Debug),
        weight: 20,
        text: "webhook <*> delivered to <*> with status <*>",
        params: &[
            Hex(10),
            Choice(&[
                "https://hooks.partner-acme.com/pay",
                "https://erp.example.com/in",
            ]),
            Choice(&["200", "200", "200", "202", "500"]),
        ],
        format: None,
        multiline: None,
    },
    // inventory
    Template {
        name: "inventory.stock_level",
        service: Service::Inventory,
        level: Some(Level::Info),
        weight: 40,
        text: "stock level for sku <*> at warehouse <*> is <*>",
        params: &[Sku, Choice(WAREHOUSES), Int(0, 5000)],
        format: None,
        multiline: None,
    },
    Template {
        name: "inventory.reserved",
        service: Service::Inventory,
        level: Some(Level::Info),
        weight: 40,
        text: "reserved <*> units of sku <*> for order <*>",
        params: &[Int(1, 12), Sku, Int(100_000, 999_999)],
        format: None,
        multiline: None,
    },
    Template {
        name: "inventory.below_threshold",
        service: Service::Inventory,
        level: Some(Level::Warn),
        weight: 10,
        text: "stock for sku <*> below threshold: <*> left",
        params: &[Sku, Int(0, 9)],
        format: None,
        multiline: None,
    },
    Template {
        name: "inventory.sync_done",
        service: Service::Inventory,
        level: Some(Level::Info),
        weight: 10,
        text: "sync with warehouse <*> completed in <*>ms",
        params: &[Choice(WAREHOUSES), Millis(80, 1500)],
        format: None,
        multiline: None,
    },
    Template {
        name: "inventory.panic",
        service: Service::Inventory,
        level: Some(Level::Fatal),
        weight: 1,
        text: "stock sync worker <*> crashed",
        params: &[Int(1, 16)],
        format: Some(Format::Plain),
        multiline: Some(Multiline::Go),
    },
    // worker
    Template {
        name: "worker.job_started",
        service: Service::Worker,
        level: Some(Level::Info),
        weight: 40,
        text: "job <*> of type <*> started on queue <*>",
        params: &[Int(1_000_000, 9_999_999), Choice(JOB_TYPES), Choice(QUEUES)],
        format: None,
        multiline: None,
    },
    Template {
        name: "worker.job_done",
        service: Service::Worker,
        level: Some(Level::Info),
        weight: 40,
        text: "job <*> completed in <*>ms",
        params: &[Int(1_000_000, 9_999_999), Millis(15, 4000)],
        format: None,
        multiline: None,
    },
    Template {
        name: "worker.retry",
        service: Service::Worker,
        level: Some(Level::Warn),
        weight: 8,
        text: "retrying job <*> (attempt <*> of 5)",
        params: &[Int(1_000_000, 9_999_999), Int(2, 5)],
        format: None,
        multiline: None,
    },
    Template {
        name: "worker.job_failed",
        service: Service::Worker,
        level: Some(Level::Error),
        weight: 2,
        text: "job <*> failed after <*> attempts",
        params: &[Int(1_000_000, 9_999_999), Int(1, 5)],
        format: Some(Format::Plain),
        multiline: Some(Multiline::Python),
    },
    Template {
        name: "worker.queue_depth",
        service: Service::Worker,
        level: Some(Level::Debug),
        weight: 20,
        text: "queue <*> depth is <*>",
        params: &[Choice(QUEUES), Int(0, 800)],
        format: None,
        multiline: None,
    },
    Template {
        name: "worker.config_loaded",
        service: Service::Worker,
        level: Some(Level::Info),
        weight: 1,
        text: "loaded job configuration revision <*>",
        params: &[Int(100, 999)],
        format: Some(Format::Json),
        multiline: Some(Multiline::JsonPretty),
    },
    Template {
        name: "worker.cache_rebalanced",
        service: Service::Worker,
        level: Some(Level::Info),
        weight: 25,
        text: "cache shard <*> rebalanced: moved <*> keys to node <*>",
        params: &[Int(0, 63), Int(100, 90_000), Choice(NODES)],
        format: None,
        multiline: None,
    },
    // only emitted by the malformed-line injector
    Template {
        name: "worker.body_dump",
        service: Service::Worker,
        level: Some(Level::Debug),
        weight: 0,
        text: "request body dump: <*>",
        params: &[],
        format: Some(Format::Plain),
        multiline: None,
    },
    Template {
        name: "worker.broker_lost",
        service: Service::Worker,
        level: Some(Level::Warn),
        weight: 0,
        text: "lost connection to broker <*>, reconnecting in <*>s",
        params: &[Choice(BROKERS), Int(1, 30)],
        format: Some(Format::Plain),
        multiline: None,
    },
];

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Index of a template by name, resolved at compile time (a typo fails the build).
const fn idx(name: &str) -> usize {
    let mut i = 0;
    while i < TEMPLATES.len() {
        if str_eq(TEMPLATES[i].name, name) {
            return i;
        }
        i += 1;
    }
    panic!("unknown template name")
}

pub(crate) const T_LOGIN_OK: usize = idx("auth.login_ok");
pub(crate) const T_ORDER_CREATED: usize = idx("orders.created");
pub(crate) const T_AUTHORIZED: usize = idx("payments.authorized");
pub(crate) const T_PROVIDER_TIMEOUT: usize = idx("payments.provider_timeout");
pub(crate) const T_CACHE_REBALANCED: usize = idx("worker.cache_rebalanced");
pub(crate) const T_BODY_DUMP: usize = idx("worker.body_dump");
pub(crate) const T_BROKER_LOST: usize = idx("worker.broker_lost");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_and_texts_are_unique_and_params_match() {
        for (i, a) in TEMPLATES.iter().enumerate() {
            for b in &TEMPLATES[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.text, b.text);
            }
            let holes = a.text.matches("<*>").count();
            // body_dump's single param is the over-long payload, filled by the injector.
            if i != T_BODY_DUMP {
                assert_eq!(holes, a.params.len(), "{}", a.name);
            }
            assert_eq!(
                a.format == Some(Format::Access),
                a.level.is_none(),
                "{}",
                a.name
            );
        }
    }

    #[test]
    fn every_service_has_weighted_templates() {
        for s in Service::ALL {
            assert!(TEMPLATES.iter().any(|t| t.service == s && t.weight > 0));
        }
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn as_str_matches_serde_names() {
        let fmts = [
            Format::Plain,
            Format::Json,
            Format::Logfmt,
            Format::Syslog3164,
            Format::Syslog5424,
            Format::Access,
            Format::Binary,
        ];
        for f in fmts {
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
        }
        for m in [
            Multiline::Java,
            Multiline::Python,
            Multiline::Go,
            Multiline::JsonPretty,
        ] {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        for m in Malformed::ALL {
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
    }
}
