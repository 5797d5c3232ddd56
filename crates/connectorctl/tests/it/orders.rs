//! `connectorctl orders …` against staged order rows.

use diesel_async::RunQueryDsl;
use platform::testing::TestDb;

use super::{assert_one_line_failure, ctl, stderr, stdout};

/// Seeds store `abc123` (and `def456`) with order rows of the given statuses; row `n` is
/// created `n` minutes after the first, so newer rows have larger ids.
async fn seed(db: &TestDb, rows: &[(&str, i64, &str)]) {
    let mut conn = platform::db::conn(&db.pool).await.unwrap();
    diesel::sql_query(
        "INSERT INTO stores (store_hash, client_secret, access_token, api_base_url) VALUES \
         ('abc123', 's', 't', 'https://api.bigcommerce.com'), \
         ('def456', 's', 't', 'https://api.bigcommerce.com')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for (store, id, status) in rows {
        diesel::sql_query(format!(
            "INSERT INTO orders (store_hash, order_id, status, attempts, last_error, \
                                 next_attempt_at, created_at) \
             VALUES ('{store}', {id}, '{status}', 7, 'engage said 500', \
                     now() + interval '1 hour', now() + {id} * interval '1 minute')"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

fn json(o: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_str::<serde_json::Value>(&stdout(o))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn ids(rows: &[serde_json::Value]) -> Vec<i64> {
    rows.iter()
        .map(|r| r["order_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn orders_list_shows_rows_newest_first_and_filters_by_status_and_store() {
    let db = TestDb::new().await;
    assert!(stdout(&ctl(&db, &["orders", "list"])).contains("no orders"));
    seed(
        &db,
        &[
            ("abc123", 1, "sent"),
            ("abc123", 2, "failed"),
            ("def456", 3, "failed"),
            ("abc123", 4, "pending"),
        ],
    )
    .await;

    let all = json(&ctl(&db, &["orders", "list", "--json"]));
    assert_eq!(ids(&all), vec![4, 3, 2, 1]);
    assert_eq!(all[1]["store"], "def456");
    assert_eq!(all[1]["status"], "failed");
    assert_eq!(all[1]["attempts"], 7);
    assert_eq!(all[1]["last_error"], "engage said 500");

    let failed = json(&ctl(
        &db,
        &["orders", "list", "--status", "failed", "--json"],
    ));
    assert_eq!(ids(&failed), vec![3, 2]);
    let failed_abc = json(&ctl(
        &db,
        &[
            "orders", "list", "--status", "failed", "--store", "abc123", "--json",
        ],
    ));
    assert_eq!(ids(&failed_abc), vec![2]);

    let o = ctl(&db, &["orders", "list", "--store", "abc123"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(table.starts_with("STORE"), "{table}");
    assert_eq!(table.lines().count(), 4, "{table}");
    assert!(table.contains("engage said 500"));
    assert!(!table.contains("def456"));

    assert_eq!(
        ctl(&db, &["orders", "list", "--status", "lost"])
            .status
            .code(),
        Some(2)
    );
}

#[tokio::test]
async fn orders_retry_makes_a_failed_order_pending_and_due_now() {
    let db = TestDb::new().await;
    seed(&db, &[("abc123", 2, "failed"), ("abc123", 3, "failed")]).await;
    let o = ctl(
        &db,
        &["orders", "retry", "--store", "abc123", "--order-id", "2"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("order 2 of store abc123 queued for retry"));

    let rows = json(&ctl(&db, &["orders", "list", "--json"]));
    let row = rows.iter().find(|r| r["order_id"] == 2).unwrap();
    assert_eq!(row["status"], "pending");
    assert_eq!(row["attempts"], 0);
    assert_eq!(row["revision"], 2);
    let next = time::OffsetDateTime::parse(
        row["next_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(next <= time::OffsetDateTime::now_utc(), "due now: {next}");
    let other = rows.iter().find(|r| r["order_id"] == 3).unwrap();
    assert_eq!(other["status"], "failed");
}

#[tokio::test]
async fn orders_retry_all_failed_retries_every_failed_order_and_counts_them() {
    let db = TestDb::new().await;
    seed(
        &db,
        &[
            ("abc123", 1, "sent"),
            ("abc123", 2, "failed"),
            ("def456", 3, "failed"),
            ("abc123", 4, "skipped"),
        ],
    )
    .await;
    let o = ctl(&db, &["orders", "retry", "--all-failed"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("2 failed order(s) queued for retry"));
    let failed = json(&ctl(
        &db,
        &["orders", "list", "--status", "failed", "--json"],
    ));
    assert!(failed.is_empty());
    let pending = json(&ctl(
        &db,
        &["orders", "list", "--status", "pending", "--json"],
    ));
    assert_eq!(ids(&pending), vec![3, 2]);
    let o = ctl(&db, &["orders", "retry", "--all-failed"]);
    assert!(stdout(&o).contains("0 failed order(s)"));
}

#[tokio::test]
async fn orders_retry_of_an_unknown_order_fails_and_bad_usage_exits_2() {
    let db = TestDb::new().await;
    seed(&db, &[("abc123", 2, "failed")]).await;
    assert_one_line_failure(
        &ctl(
            &db,
            &["orders", "retry", "--store", "abc123", "--order-id", "99"],
        ),
        "unknown order 99 of store abc123",
    );
    assert_one_line_failure(
        &ctl(
            &db,
            &["orders", "retry", "--store", "zzz999", "--order-id", "2"],
        ),
        "unknown order 2 of store zzz999",
    );
    assert_eq!(
        ctl(&db, &["orders", "retry", "--store", "abc123"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(ctl(&db, &["orders", "retry"]).status.code(), Some(2));
    assert_eq!(
        ctl(
            &db,
            &[
                "orders",
                "retry",
                "--all-failed",
                "--store",
                "abc123",
                "--order-id",
                "2"
            ]
        )
        .status
        .code(),
        Some(2)
    );
    let help = ctl(&db, &["orders", "retry", "--help"]);
    assert!(help.status.success());
    assert!(stdout(&help).contains("--all-failed"));
}
