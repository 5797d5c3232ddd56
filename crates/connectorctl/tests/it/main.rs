//! `connectorctl` as operators run it: the real binary against a fresh database.

mod dlq;
mod hooks;
mod orders;

use std::process::{Command, Output};

use platform::testing::TestDb;
use secrecy::ExposeSecret;

fn ctl(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_connectorctl"))
        .args(args)
        .env("CONNECTOR__DATABASE__URL", db.url.expose_secret())
        .env("CONNECTOR_CONFIG_DIR", "/nonexistent")
        .env_remove("CONNECTORCTL_CLIENT_SECRET")
        .env_remove("CONNECTORCTL_ACCESS_TOKEN")
        .env_remove("CONNECTORCTL_ENGAGE_API_KEY")
        .output()
        .expect("run connectorctl")
}

/// How many migrations the platform crate ships: every one must be applied to a fresh
/// database.
fn migrations_shipped() -> usize {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../platform/migrations");
    std::fs::read_dir(dir)
        .expect("the platform's migrations folder")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|e| e.path().join("up.sql").is_file())
        })
        .count()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const ADD_STORE: &[&str] = &[
    "store",
    "add",
    "--hash",
    "abc123",
    "--client-secret",
    "very-secret-value",
    "--access-token",
    "token-value-xyz",
];

const ADD_CHANNEL: &[&str] = &[
    "channel",
    "add",
    "--store",
    "abc123",
    "--channel-id",
    "1",
    "--engage-base-url",
    "https://tenant.voyado.com",
    "--engage-api-key",
    "engage-key-value",
    "--store-external-id",
    "SE-WEB",
    "--locale",
    "sv-SE",
    "--contact-type-mode",
    "member-and-contact",
    "--allowed-origin",
    "https://shop.example.com",
    "--allowed-origin",
    "https://www.example.com",
    "--order-id-prefix",
    "SE-",
];

#[tokio::test]
async fn migrate_store_add_and_channel_add_work_on_a_fresh_database() {
    let db = TestDb::empty().await;
    let o = ctl(&db, &["migrate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = format!("{} migration(s) applied", migrations_shipped());
    assert!(stdout(&o).contains(&expected), "{}", stdout(&o));
    let o = ctl(&db, &["migrate"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("up to date"));

    let o = ctl(&db, ADD_STORE);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ctl(&db, ADD_CHANNEL);
    assert!(o.status.success(), "{}", stderr(&o));

    let o = ctl(&db, &["store", "list"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("abc123") && out.contains("https://api.bigcommerce.com"));
    assert!(
        !out.contains("very-secret-value") && !out.contains("token-value-xyz"),
        "secrets printed: {out}"
    );

    let o = ctl(&db, &["channel", "list", "--json"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(!out.contains("engage-key-value"), "api key printed: {out}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["channel_id"], 1);
    assert_eq!(rows[0]["contact_type_mode"], "member-and-contact");
    assert_eq!(
        rows[0]["allowed_origins"],
        serde_json::json!(["https://shop.example.com", "https://www.example.com"])
    );
    assert_eq!(rows[0]["order_id_prefix"], "SE-");

    let o = ctl(
        &db,
        &[
            "channel",
            "remove",
            "--store",
            "abc123",
            "--channel-id",
            "1",
        ],
    );
    assert!(o.status.success());
    let o = ctl(&db, &["store", "remove", "--hash", "abc123"]);
    assert!(o.status.success());
    assert!(stdout(&ctl(&db, &["store", "list"])).contains("no stores"));
}

fn assert_one_line_failure(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{err}");
    assert!(!err.contains("panicked"));
}

#[tokio::test]
async fn bad_input_gets_a_one_line_error_and_exit_code_1() {
    let db = TestDb::new().await;
    assert!(ctl(&db, ADD_STORE).status.success());
    assert_one_line_failure(&ctl(&db, ADD_STORE), "already exists");
    assert_one_line_failure(
        &ctl(
            &db,
            &[
                "store",
                "add",
                "--hash",
                "ABC!",
                "--client-secret",
                "s",
                "--access-token",
                "t",
            ],
        ),
        "invalid store hash",
    );
    assert_one_line_failure(
        &ctl(
            &db,
            &[
                "store",
                "add",
                "--hash",
                "def456",
                "--client-secret",
                "s",
                "--access-token",
                "t",
                "--api-base-url",
                "not a url",
            ],
        ),
        "--api-base-url",
    );
    let mut unknown_store = ADD_CHANNEL.to_vec();
    unknown_store[3] = "zzz999";
    assert_one_line_failure(&ctl(&db, &unknown_store), "unknown store zzz999");
    let mut bad_url = ADD_CHANNEL.to_vec();
    bad_url[7] = "ftp://tenant";
    assert_one_line_failure(&ctl(&db, &bad_url), "--engage-base-url");
    let mut bad_origin = ADD_CHANNEL.to_vec();
    bad_origin[17] = "https://shop.example.com/path";
    assert_one_line_failure(&ctl(&db, &bad_origin), "--allowed-origin");
    assert!(ctl(&db, ADD_CHANNEL).status.success());
    assert_one_line_failure(&ctl(&db, ADD_CHANNEL), "already exists");
    assert_one_line_failure(
        &ctl(&db, &["store", "remove", "--hash", "nope"]),
        "unknown store nope",
    );
    assert_one_line_failure(
        &ctl(
            &db,
            &[
                "channel",
                "remove",
                "--store",
                "abc123",
                "--channel-id",
                "9",
            ],
        ),
        "unknown channel 9",
    );
}

#[tokio::test]
async fn usage_errors_exit_with_code_2() {
    let db = TestDb::new().await;
    assert_eq!(
        ctl(&db, &["store", "add", "--hash", "abc123"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(ctl(&db, &["bogus"]).status.code(), Some(2));
    assert_eq!(
        ctl(
            &db,
            &["channel", "add", "--store", "abc123", "--channel-id", "x"]
        )
        .status
        .code(),
        Some(2)
    );
    let help = ctl(&db, &["channel", "add", "--help"]);
    assert!(help.status.success());
    assert!(stdout(&help).contains("--allowed-origin"));
}

#[tokio::test]
async fn an_unreachable_database_is_a_one_line_error_without_the_password() {
    let o = Command::new(env!("CARGO_BIN_EXE_connectorctl"))
        .args(["store", "list"])
        .env(
            "CONNECTOR__DATABASE__URL",
            "postgres://postgres:hunter2@127.0.0.1:1/connector",
        )
        .env("CONNECTOR_CONFIG_DIR", "/nonexistent")
        .output()
        .unwrap();
    assert_one_line_failure(&o, "database");
    assert!(!stderr(&o).contains("hunter2"));
}

#[tokio::test]
async fn an_invalid_configuration_value_fails_naming_the_key() {
    let o = Command::new(env!("CARGO_BIN_EXE_connectorctl"))
        .args(["store", "list"])
        .env("CONNECTOR__AMQP__PREFETCH", "many")
        .env("CONNECTOR_CONFIG_DIR", "/nonexistent")
        .output()
        .unwrap();
    assert_one_line_failure(&o, "amqp.prefetch");
}
