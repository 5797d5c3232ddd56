//! The control API under `/_sandbox`, for the demo, benchmarks and scripts that cannot
//! hold a [`SandboxHandle`](crate::SandboxHandle). Its own requests are not recorded.
//!
//! | method, path | body | answer |
//! |---|---|---|
//! | `GET /_sandbox/health` | | 200 `{"status":"ok"}` |
//! | `GET /_sandbox/requests?path_prefix=` | | the recorded requests |
//! | `DELETE /_sandbox/requests` | | 204; also resets the stats |
//! | `GET /_sandbox/stats` | | [`Stats`](crate::Stats) |
//! | `GET`, `POST`, `DELETE /_sandbox/faults` | a [`Fault`](crate::Fault) or a list | list, 201, 204 |
//! | `PUT /_sandbox/bigcommerce/quota` | a [`Quota`](crate::Quota) or `null` | 204 |
//! | `GET /_sandbox/engage/contacts`, `POST` (a contact or a list) | | list, 201 with the stored contacts |
//! | `GET /_sandbox/engage/orders` | | list |
//! | `POST /_sandbox/bigcommerce/stores/{hash}/orders` | `{"order","products","shipping_addresses"}` or a list | 201 |
//! | `POST /_sandbox/bigcommerce/stores/{hash}/{kind}` | an object or a list | 201; kind = customers, subscribers, products, categories, refunds, hooks |
//! | `GET /_sandbox/bigcommerce/stores/{hash}/{kind}` | | list |
//! | `DELETE /_sandbox/bigcommerce/stores/{hash}/{kind}/{id}` | | 204, or 404 |

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::faults::{Fault, Quota};
use crate::http::{Ctx, Reply};
use crate::seed::OrderSeed;
use crate::state::{lock, Kind, Shared};

fn bad_request(message: impl std::fmt::Display) -> Reply {
    Reply::json(400, json!({"error": message.to_string()}))
}

fn not_found() -> Reply {
    Reply::json(404, json!({"error": "not found"}))
}

/// A body that is one item or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

fn items<T: DeserializeOwned>(ctx: &Ctx<'_>) -> Result<Vec<T>, Reply> {
    let value = ctx.json().map_err(bad_request)?;
    // Parse a list item by item so the error names what is wrong with it.
    match value {
        Value::Array(list) => list
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(bad_request))
            .collect(),
        one => serde_json::from_value::<OneOrMany<T>>(one)
            .map(|parsed| match parsed {
                OneOrMany::Many(list) => list,
                OneOrMany::One(item) => vec![item],
            })
            .map_err(bad_request),
    }
}

/// Handles one request below `/_sandbox`.
pub(crate) fn handle(shared: &Shared, ctx: &Ctx<'_>) -> Reply {
    let segs = ctx.segs();
    match (ctx.method, segs.as_slice()) {
        ("GET", ["health"]) => Reply::json(200, json!({"status": "ok"})),
        ("GET", ["requests"]) => {
            let prefix = ctx.param("path_prefix");
            Reply::json(200, json!(lock(&shared.log).requests(prefix)))
        }
        ("DELETE", ["requests"]) => {
            lock(&shared.log).clear();
            Reply::empty(204)
        }
        ("GET", ["stats"]) => {
            let mut stats = lock(&shared.log).stats();
            stats.over_quota = lock(&shared.control).limiter.over_quota();
            Reply::json(200, json!(stats))
        }
        ("GET", ["faults"]) => Reply::json(200, json!(lock(&shared.control).faults.list())),
        ("POST", ["faults"]) => match items::<Fault>(ctx) {
            Ok(faults) => {
                let added = faults.len();
                let mut control = lock(&shared.control);
                for fault in faults {
                    control.faults.add(fault);
                }
                Reply::json(201, json!({"added": added}))
            }
            Err(reply) => reply,
        },
        ("DELETE", ["faults"]) => {
            lock(&shared.control).faults.clear();
            Reply::empty(204)
        }
        ("PUT", ["bigcommerce", "quota"]) => {
            let quota = ctx
                .json()
                .map_err(bad_request)
                .and_then(|v| serde_json::from_value::<Option<Quota>>(v).map_err(bad_request));
            match quota {
                Ok(quota) => {
                    lock(&shared.control).limiter.set(quota);
                    Reply::empty(204)
                }
                Err(reply) => reply,
            }
        }
        ("GET", ["engage", "contacts"]) => {
            Reply::json(200, json!(lock(&shared.data).engage.contacts()))
        }
        ("POST", ["engage", "contacts"]) => match items::<Value>(ctx) {
            Ok(contacts) => {
                let mut data = lock(&shared.data);
                let created: Result<Vec<Value>, String> = contacts
                    .into_iter()
                    .map(|c| data.engage.create_contact(c))
                    .collect();
                match created {
                    Ok(created) => Reply::json(201, json!(created)),
                    Err(message) => bad_request(message),
                }
            }
            Err(reply) => reply,
        },
        ("GET", ["engage", "orders"]) => {
            Reply::json(200, json!(lock(&shared.data).engage.orders()))
        }
        ("POST", ["bigcommerce", "stores", hash, "orders"]) => match items::<OrderSeed>(ctx) {
            Ok(orders) => {
                let mut data = lock(&shared.data);
                let store = data.store_mut(hash);
                for order in orders {
                    if let Err(message) = store.put_order(order) {
                        return bad_request(message);
                    }
                }
                Reply::json(201, json!({"status": "stored"}))
            }
            Err(reply) => reply,
        },
        ("GET", ["bigcommerce", "stores", hash, "orders"]) => {
            let data = lock(&shared.data);
            let orders: Vec<Value> = data
                .stores
                .get(*hash)
                .map(|s| s.orders.values().map(|o| o.order.clone()).collect())
                .unwrap_or_default();
            Reply::json(200, json!(orders))
        }
        ("POST", ["bigcommerce", "stores", hash, kind]) => {
            let Some(kind) = Kind::parse(kind) else {
                return not_found();
            };
            match items::<Value>(ctx) {
                Ok(values) => {
                    let mut data = lock(&shared.data);
                    let store = data.store_mut(hash);
                    let mut ids = Vec::new();
                    for value in values {
                        match store.put(kind, value) {
                            Ok(id) => ids.push(id),
                            Err(message) => return bad_request(message),
                        }
                    }
                    Reply::json(201, json!({"ids": ids}))
                }
                Err(reply) => reply,
            }
        }
        ("GET", ["bigcommerce", "stores", hash, kind]) => {
            let Some(kind) = Kind::parse(kind) else {
                return not_found();
            };
            let mut data = lock(&shared.data);
            let list: Vec<Value> = match data.stores.get_mut(*hash) {
                Some(store) => store.map_mut(kind).values().cloned().collect(),
                None => Vec::new(),
            };
            Reply::json(200, json!(list))
        }
        ("DELETE", ["bigcommerce", "stores", hash, kind, id]) => {
            let Ok(id) = id.parse::<i64>() else {
                return not_found();
            };
            let mut data = lock(&shared.data);
            let Some(store) = data.stores.get_mut(*hash) else {
                return not_found();
            };
            let removed = match *kind {
                "orders" => store.orders.remove(&id).is_some(),
                other => match Kind::parse(other) {
                    Some(kind) => store.map_mut(kind).remove(&id).is_some(),
                    None => false,
                },
            };
            if removed {
                Reply::empty(204)
            } else {
                not_found()
            }
        }
        _ => not_found(),
    }
}
