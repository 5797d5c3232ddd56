//! Contact events (the `order-processor.contacts` handler): customers and subscribers are
//! upserted in Engage by e-mail, deleted customers are deleted through the stored link.
//! Retries are the consume loop's (bounded, then dead letter).

use diesel_async::AsyncConnection;
use domain::channel::{ContactTypeMode, DropReason};
use domain::engage::{map_customer, map_subscriber, ContactPayload};
use domain::ids::{ChannelId, CustomerId, StoreHash};
use domain::webhook::{Envelope, Scope, WebhookData};
use platform::amqp::{Handler, HandlerError, Incoming};
use platform::db::channels::Channel;
use platform::db::stores::Store;
use platform::db::{channels, events, stores, DbPool};
use platform::http::{ApiError, EngageClient, HttpClients};

use crate::db::{self, ContactLink};
use crate::{count_dropped, handle_counted, CONSUMER, CONTACTS_QUEUE};

/// Handles customer and subscriber events.
pub struct ContactSync {
    pool: DbPool,
    http: HttpClients,
}

fn api(e: ApiError) -> HandlerError {
    if e.is_retryable() {
        HandlerError::Transient {
            reason: e.to_string(),
            retry_after: e.retry_after(),
        }
    } else {
        HandlerError::fatal(e.to_string())
    }
}

/// A handler error inside a database transaction (which needs `From<diesel::result::Error>`).
struct TxError(HandlerError);

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError(db_err(e))
    }
}

fn db_err(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::transient(format!("database: {e}"))
}

impl ContactSync {
    /// A handler reading links and configuration from `pool` and calling the vendors
    /// through `http`.
    pub fn new(pool: DbPool, http: HttpClients) -> Self {
        Self { pool, http }
    }

    async fn channel(
        &self,
        store: &StoreHash,
        top_level: Option<ChannelId>,
        resource: Option<ChannelId>,
    ) -> Result<Option<Channel>, HandlerError> {
        let Some(id) = domain::channel::resolve_channel(top_level, resource) else {
            return Ok(None);
        };
        let mut conn = platform::db::conn(&self.pool).await.map_err(db_err)?;
        channels::find(&mut conn, store, id).await.map_err(db_err)
    }

    fn unmatched(what: &str) -> Result<&'static str, HandlerError> {
        let reason = DropReason::UnmatchedChannel.as_str();
        tracing::info!(reason, what, "contact event dropped: no channel configured");
        count_dropped(reason);
        Ok(reason)
    }

    /// Finds the contact by e-mail; creates it when missing, else PATCHes the mapped
    /// fields. Returns the contact id and whether it was created.
    async fn upsert(
        engage: &EngageClient,
        channel: &Channel,
        payload: &ContactPayload,
    ) -> Result<(String, bool), HandlerError> {
        match engage.find_contact_id(&payload.email).await.map_err(api)? {
            Some(id) => {
                engage
                    .update_contact(&id, &payload.for_update())
                    .await
                    .map_err(api)?;
                metrics::counter!("order_processor_contacts_total", "action" => "updated")
                    .increment(1);
                Ok((id, false))
            }
            None => {
                let id = engage
                    .create_contact(
                        &channel.settings.source,
                        &channel.settings.store_external_id,
                        payload,
                    )
                    .await
                    .map_err(api)?;
                metrics::counter!("order_processor_contacts_total", "action" => "created")
                    .increment(1);
                Ok((id, true))
            }
        }
    }

    /// [`Self::upsert`] under the contact's advisory lock (see [`db::lock_contact`]).
    async fn locked_upsert(
        &self,
        channel: &Channel,
        payload: &ContactPayload,
    ) -> Result<(String, bool), HandlerError> {
        let engage = self.http.engage(channel);
        let mut conn = platform::db::conn(&self.pool).await.map_err(db_err)?;
        let engage = &engage;
        conn.transaction::<(String, bool), TxError, _>(async |c| {
            db::lock_contact(c, &channel.engage_base_url, &payload.email).await?;
            Self::upsert(engage, channel, payload)
                .await
                .map_err(TxError)
        })
        .await
        .map_err(|e| e.0)
    }

    async fn customer(
        &self,
        store: &Store,
        envelope: &Envelope,
        id: CustomerId,
    ) -> Result<&'static str, HandlerError> {
        let bigcommerce = self.http.bigcommerce(store);
        let Some(customer) = bigcommerce.customer(id.get()).await.map_err(api)? else {
            tracing::info!(customer_id = %id, "customer no longer exists; nothing to do");
            return Ok("gone");
        };
        let Some(channel) = self
            .channel(
                &store.store_hash,
                envelope.channel_id(),
                customer.origin_channel_id,
            )
            .await?
        else {
            return Self::unmatched("customer");
        };
        let payload = map_customer(&customer, &channel.settings)
            .map_err(|e| HandlerError::fatal(e.to_string()))?;
        let link = ContactLink {
            store_hash: store.store_hash.to_string(),
            customer_id: id.get() as i64,
            channel_id: channel.settings.channel_id.get() as i32,
            engage_contact_id: String::new(),
            email: Some(payload.email.clone()),
        };
        let engage = self.http.engage(&channel);
        let (engage, channel, payload) = (&engage, &channel, &payload);
        let mut conn = platform::db::conn(&self.pool).await.map_err(db_err)?;
        // Reading the link, upserting, promoting and storing the link all hold the contact's
        // lock: two events for one customer (a live one and its back-fill, say) then see each
        // other's link, so the second neither creates a duplicate nor mistakes the first's
        // fresh contact for an older guest contact to promote.
        let contact_id = conn
            .transaction::<String, TxError, _>(async |c| {
                db::lock_contact(c, &channel.engage_base_url, &payload.email).await?;
                let known = db::find_contact_link(c, &link.store_hash, link.customer_id)
                    .await?
                    .is_some();
                let (contact_id, created) = Self::upsert(engage, channel, payload)
                    .await
                    .map_err(TxError)?;
                // A contact that existed before this account did (a guest's `Contact`, made
                // for an order) becomes a member now that it has an account.
                if !created
                    && !known
                    && channel.settings.contact_type_mode == ContactTypeMode::MemberAndContact
                {
                    engage
                        .promote_to_member(&contact_id)
                        .await
                        .map_err(|e| TxError(api(e)))?;
                    metrics::counter!("order_processor_contacts_total", "action" => "promoted")
                        .increment(1);
                    tracing::info!(customer_id = %id, contact_id, "contact promoted to member");
                }
                let link = ContactLink {
                    engage_contact_id: contact_id.clone(),
                    ..link.clone()
                };
                db::upsert_contact_link(c, &link).await?;
                Ok(contact_id)
            })
            .await
            .map_err(|e| e.0)?;
        tracing::info!(customer_id = %id, contact_id, "contact upserted");
        Ok("upserted")
    }

    async fn deleted_customer(
        &self,
        store: &Store,
        envelope: &Envelope,
        id: CustomerId,
    ) -> Result<&'static str, HandlerError> {
        let store_hash = store.store_hash.as_str();
        let link = {
            let mut conn = platform::db::conn(&self.pool).await.map_err(db_err)?;
            db::find_contact_link(&mut conn, store_hash, id.get() as i64)
                .await
                .map_err(db_err)?
        };
        let Some(link) = link else {
            tracing::info!(customer_id = %id, "no contact stored for the deleted customer; nothing to do");
            return Ok("no_contact");
        };
        let resource = u32::try_from(link.channel_id).ok().map(ChannelId::new);
        let Some(channel) = self
            .channel(&store.store_hash, envelope.channel_id(), resource)
            .await?
        else {
            return Self::unmatched("deleted customer");
        };
        self.http
            .engage(&channel)
            .delete_contact(&link.engage_contact_id)
            .await
            .map_err(api)?;
        let mut conn = platform::db::conn(&self.pool).await.map_err(db_err)?;
        db::delete_contact_link(&mut conn, store_hash, id.get() as i64)
            .await
            .map_err(db_err)?;
        metrics::counter!("order_processor_contacts_total", "action" => "deleted").increment(1);
        tracing::info!(customer_id = %id, contact_id = link.engage_contact_id, "contact deleted");
        Ok("deleted")
    }

    async fn subscriber(
        &self,
        store: &Store,
        envelope: &Envelope,
        id: domain::ids::SubscriberId,
    ) -> Result<&'static str, HandlerError> {
        let bigcommerce = self.http.bigcommerce(store);
        let Some(subscriber) = bigcommerce.subscriber(id.get()).await.map_err(api)? else {
            tracing::info!(subscriber_id = %id, "subscriber no longer exists; nothing to do");
            return Ok("gone");
        };
        let Some(channel) = self
            .channel(
                &store.store_hash,
                envelope.channel_id(),
                subscriber.channel_id,
            )
            .await?
        else {
            return Self::unmatched("subscriber");
        };
        let payload = map_subscriber(&subscriber, &channel.settings)
            .map_err(|e| HandlerError::fatal(e.to_string()))?;
        let (contact_id, _) = self.locked_upsert(&channel, &payload).await?;
        tracing::info!(subscriber_id = %id, contact_id, "subscriber contact upserted");
        Ok("upserted")
    }

    /// Handles one event; returns the outcome counted in `order_processor_events_total`.
    async fn process(
        &self,
        message: &Incoming,
        envelope: &Envelope,
    ) -> Result<&'static str, HandlerError> {
        let data = envelope
            .data()
            .map_err(|e| HandlerError::fatal(format!("unusable contact event: {e}")))?;
        let event_id = message.event_id(envelope);
        let store_hash = envelope.store_hash().clone();
        let store = {
            let mut conn = platform::db::conn(&self.pool).await.map_err(db_err)?;
            if !message.is_replay()
                && events::was_processed(&mut conn, CONSUMER, &event_id)
                    .await
                    .map_err(db_err)?
            {
                tracing::info!(event_id, "duplicate contact event skipped");
                count_dropped("duplicate");
                return Ok("duplicate");
            }
            stores::find(&mut conn, &store_hash).await.map_err(db_err)?
        };
        let Some(store) = store else {
            tracing::warn!(store = %store_hash, reason = "unknown_store", "contact event dropped");
            count_dropped("unknown_store");
            return Ok("unknown_store");
        };
        let outcome = match data {
            WebhookData::Customer { id } if *envelope.scope() == Scope::CustomerDeleted => {
                self.deleted_customer(&store, envelope, id).await?
            }
            WebhookData::Customer { id } => self.customer(&store, envelope, id).await?,
            WebhookData::CustomerAddress { customer_id, .. } => {
                self.customer(&store, envelope, customer_id).await?
            }
            WebhookData::Subscriber { id } => self.subscriber(&store, envelope, id).await?,
            _ => {
                return Err(HandlerError::fatal(format!(
                    "scope {} does not belong on the contacts queue",
                    envelope.scope()
                )))
            }
        };
        // Recorded after the work: a failed attempt must not make its retry a "duplicate".
        // The upsert is idempotent, so a crash between the two only repeats it.
        let mut conn = platform::db::conn(&self.pool).await.map_err(db_err)?;
        events::mark_processed(&mut conn, CONSUMER, &event_id, Some(store_hash.as_str()))
            .await
            .map_err(db_err)?;
        Ok(outcome)
    }
}

impl Handler for ContactSync {
    async fn handle(&self, message: &Incoming) -> Result<(), HandlerError> {
        handle_counted(CONTACTS_QUEUE, "contact", message, |envelope| async move {
            self.process(message, &envelope).await
        })
        .await
    }
}
