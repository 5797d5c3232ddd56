use diesel_async::RunQueryDsl;
use domain::channel::{ChannelSettings, ContactTypeMode};
use domain::ids::{ChannelId, StoreHash};
use platform::db::{self, channels, events, stores};
use platform::testing::TestDb;
use secrecy::{ExposeSecret, SecretString};

#[tokio::test]
async fn all_migrations_run_revert_and_run_again() {
    let test = TestDb::empty().await;
    let applied = db::run_migrations(&test.url).await.unwrap();
    assert_eq!(applied.len(), 4);
    let mut conn = db::conn(&test.pool).await.unwrap();
    for table in [
        "stores",
        "channels",
        "orders",
        "contacts",
        "processed_events",
        "webhook_checks",
    ] {
        diesel::sql_query(format!("SELECT count(*) FROM {table}"))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    drop(conn);
    let reverted = db::revert_all_migrations(&test.url).await.unwrap();
    assert_eq!(reverted.len(), 4);
    let mut conn = db::conn(&test.pool).await.unwrap();
    assert!(diesel::sql_query("SELECT count(*) FROM stores")
        .execute(&mut *conn)
        .await
        .is_err());
    drop(conn);
    assert_eq!(db::run_migrations(&test.url).await.unwrap().len(), 4);
    assert!(
        db::run_migrations(&test.url).await.unwrap().is_empty(),
        "nothing pending"
    );
}

fn hash(s: &str) -> StoreHash {
    StoreHash::parse(s).unwrap()
}

fn channel(store: &str, id: u32) -> channels::Channel {
    channels::Channel {
        settings: ChannelSettings {
            store_hash: hash(store),
            channel_id: ChannelId::new(id),
            store_external_id: "SE-WEB".into(),
            source: "ECOM".into(),
            locale: "sv-SE".into(),
            contact_type_mode: ContactTypeMode::MemberAndContact,
            order_id_prefix: Some("SE-".into()),
            allowed_origins: vec!["https://shop.example.com".into()],
        },
        engage_base_url: "https://tenant.voyado.com".into(),
        engage_api_key: SecretString::from("engage-key"),
    }
}

#[tokio::test]
async fn stores_and_channels_round_trip_and_refuse_duplicates() {
    let test = TestDb::new().await;
    let mut conn = db::conn(&test.pool).await.unwrap();
    let h = hash("abc123");
    let secret = SecretString::from("client-secret");
    let token = SecretString::from("token");
    let new = stores::NewStore {
        store_hash: &h,
        client_secret: &secret,
        access_token: &token,
        api_base_url: stores::DEFAULT_API_BASE_URL,
    };
    stores::insert(&mut conn, &new).await.unwrap();
    assert!(matches!(
        stores::insert(&mut conn, &new).await,
        Err(stores::AddStoreError::Duplicate(_))
    ));
    let found = stores::find(&mut conn, &h).await.unwrap().unwrap();
    assert_eq!(found.client_secret.expose_secret(), "client-secret");
    assert!(!format!("{found:?}").contains("client-secret"));

    channels::insert(&mut conn, &channel("abc123", 1))
        .await
        .unwrap();
    assert!(matches!(
        channels::insert(&mut conn, &channel("abc123", 1)).await,
        Err(channels::AddChannelError::Duplicate { .. })
    ));
    assert!(matches!(
        channels::insert(&mut conn, &channel("nostore", 1)).await,
        Err(channels::AddChannelError::UnknownStore(_))
    ));
    let got = channels::find(&mut conn, &h, ChannelId::new(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.settings.contact_type_mode,
        ContactTypeMode::MemberAndContact
    );
    assert_eq!(
        got.settings.allowed_origins,
        vec!["https://shop.example.com".to_string()]
    );
    assert_eq!(got.settings.order_id_prefix.as_deref(), Some("SE-"));
    assert_eq!(channels::list(&mut conn, Some(&h)).await.unwrap().len(), 1);
    assert!(channels::delete(&mut conn, &h, ChannelId::new(1))
        .await
        .unwrap());
    assert!(!channels::delete(&mut conn, &h, ChannelId::new(1))
        .await
        .unwrap());
    assert!(stores::delete(&mut conn, &h).await.unwrap());
    assert!(stores::list(&mut conn).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_event_id_is_recorded_once_per_consumer() {
    let test = TestDb::new().await;
    let mut conn = db::conn(&test.pool).await.unwrap();
    assert!(
        events::mark_processed(&mut conn, "order-processor", "evt-1", Some("abc123"))
            .await
            .unwrap()
    );
    assert!(
        !events::mark_processed(&mut conn, "order-processor", "evt-1", Some("abc123"))
            .await
            .unwrap()
    );
    assert!(
        events::mark_processed(&mut conn, "tracking-forwarder", "evt-1", None)
            .await
            .unwrap()
    );
    assert!(events::was_processed(&mut conn, "order-processor", "evt-1")
        .await
        .unwrap());
    assert!(
        events::mark_processed(&mut conn, "order-processor", "evt-2", Some("abc123"))
            .await
            .unwrap()
    );
    // Recent records stay.
    assert_eq!(
        events::prune(&mut conn, "order-processor", time::Duration::hours(1), 10)
            .await
            .unwrap(),
        0
    );
    // Old ones go in batches, and only the named consumer's.
    assert_eq!(
        events::prune(&mut conn, "order-processor", time::Duration::ZERO, 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        events::prune(&mut conn, "order-processor", time::Duration::ZERO, 10)
            .await
            .unwrap(),
        1
    );
    assert!(
        !events::was_processed(&mut conn, "order-processor", "evt-1")
            .await
            .unwrap()
    );
    assert!(
        events::was_processed(&mut conn, "tracking-forwarder", "evt-1")
            .await
            .unwrap()
    );
    // The pruning loop takes batch after batch until the consumer's old records are gone.
    for id in ["evt-3", "evt-4"] {
        events::mark_processed(&mut conn, "order-processor", id, None)
            .await
            .unwrap();
    }
    let stop = tokio_util::sync::CancellationToken::new();
    assert_eq!(
        events::prune_expired(&test.pool, "order-processor", time::Duration::ZERO, &stop)
            .await
            .unwrap(),
        2
    );
    assert!(
        events::was_processed(&mut conn, "tracking-forwarder", "evt-1")
            .await
            .unwrap()
    );
}
