//! The on-demand check: `webhook_health.check` messages on `webhook-health.commands`.

use std::sync::Arc;

use domain::ids::StoreHash;
use platform::amqp::{Handler, HandlerError, Incoming};
use platform::db::{self, DbPool};
use serde::Deserialize;

use crate::checker::Checker;

/// The routing key of an on-demand check.
pub const CHECK_ROUTING_KEY: &str = "webhook_health.check";

/// Body of a `webhook_health.check` message: `{"storeHash": "abc123"}`; without a store
/// hash (or with an empty body) every store is checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckCommand {
    /// The store to check; `None` for all.
    #[serde(default)]
    pub store_hash: Option<String>,
}

/// Runs the check a command asks for.
#[derive(Clone)]
pub struct CommandHandler {
    checker: Arc<Checker>,
    pool: DbPool,
}

impl std::fmt::Debug for CommandHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandHandler").finish_non_exhaustive()
    }
}

impl CommandHandler {
    /// A handler running checks with `checker`.
    pub fn new(checker: Arc<Checker>, pool: DbPool) -> Self {
        Self { checker, pool }
    }

    async fn run(&self, message: &Incoming) -> Result<(), HandlerError> {
        if message.routing_key != CHECK_ROUTING_KEY {
            tracing::warn!(routing_key = %message.routing_key, "unknown command; ignored");
            return Ok(());
        }
        let command: CheckCommand = if message.body.iter().all(u8::is_ascii_whitespace) {
            CheckCommand::default()
        } else {
            serde_json::from_slice(&message.body)
                .map_err(|e| HandlerError::fatal(format!("invalid check command: {e}")))?
        };
        let Some(hash) = command.store_hash else {
            self.checker
                .check_all()
                .await
                .map_err(|e| HandlerError::transient(e.to_string()))?;
            return Ok(());
        };
        let hash = StoreHash::parse(&hash)
            .map_err(|e| HandlerError::fatal(format!("invalid store hash: {e}")))?;
        let store = {
            let mut conn = db::conn(&self.pool)
                .await
                .map_err(|e| HandlerError::transient(e.to_string()))?;
            db::stores::find(&mut conn, &hash)
                .await
                .map_err(|e| HandlerError::transient(e.to_string()))?
        };
        let Some(store) = store else {
            return Err(HandlerError::fatal(format!("unknown store {hash}")));
        };
        match self.checker.check_store(&store).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_transient() => Err(HandlerError::transient(error.to_string())),
            Err(error) => Err(HandlerError::fatal(error.to_string())),
        }
    }
}

impl Handler for CommandHandler {
    async fn handle(&self, message: &Incoming) -> Result<(), HandlerError> {
        self.run(message).await
    }
}
