//! The fake Engage API.

use reqwest::{Method, StatusCode};
use sandbox::Seed;
use serde_json::{json, Value};

use crate::helpers::{json, start, start_with};

#[tokio::test]
async fn a_created_contact_is_found_by_email() {
    let sb = start().await;
    let created = sb
        .engage(
            Method::POST,
            "/api/v3/contacts?source=bigcommerce&storeExternalId=se",
        )
        .json(&json!({"email": "jane.doe@example.com", "firstName": "Jane", "externalId": "32"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let contact = json(created).await;
    let id = contact["id"].as_str().unwrap().to_owned();
    assert_eq!(contact["contactType"], "Member");
    assert_eq!(contact["firstName"], "Jane");

    let found = sb
        .engage(Method::GET, "/api/v3/contacts/id")
        .query(&[("email", "jane.doe@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), StatusCode::OK);
    assert_eq!(json(found).await, Value::String(id.clone()));

    let fetched = sb
        .engage(Method::GET, &format!("/api/v3/contacts/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(json(fetched).await, contact);
    assert_eq!(sb.handle.engage_contacts(), vec![contact]);

    let count = sb
        .engage(Method::GET, "/api/v2/contacts/count")
        .send()
        .await
        .unwrap();
    assert_eq!(json(count).await, json!(1));
}

#[tokio::test]
async fn a_contact_lookup_answers_404_400_or_409() {
    let mut seed = Seed::default_fixtures();
    seed.engage.contacts = vec![
        json!({"email": "twin@example.com"}),
        json!({"email": "TWIN@example.com"}),
    ];
    let sb = start_with(seed).await;
    let missing = sb
        .engage(Method::GET, "/api/v3/contacts/id?email=nobody@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(missing).await["errorCode"], "ContactNotFound");

    let twins = sb
        .engage(Method::GET, "/api/v3/contacts/id?email=twin@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(twins.status(), StatusCode::CONFLICT);
    assert_eq!(json(twins).await["errorCode"], "MultipleMatches");

    let no_email = sb
        .engage(Method::GET, "/api/v3/contacts/id")
        .send()
        .await
        .unwrap();
    assert_eq!(no_email.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_patch_overwrites_present_keys_clears_nulls_and_keeps_absent_ones() {
    let sb = start().await;
    let contact = sb.handle.put_engage_contact(json!({
        "email": "a@example.com", "firstName": "Ann", "mobilePhone": "+46701234567", "city": "Lund"
    }));
    let id = contact["id"].as_str().unwrap();
    let patched = sb
        .engage(Method::PATCH, &format!("/api/v3/contacts/{id}"))
        .json(&json!({"firstName": "Anna", "mobilePhone": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let stored = &sb.handle.engage_contacts()[0];
    assert_eq!(stored["firstName"], "Anna");
    assert_eq!(stored["mobilePhone"], Value::Null);
    assert_eq!(stored["city"], "Lund");
    assert_eq!(json(patched).await, *stored);

    let unknown = sb
        .engage(
            Method::PATCH,
            "/api/v3/contacts/00000000-0000-0000-0000-000000000000",
        )
        .json(&json!({"firstName": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_deleted_contact_is_gone_and_a_second_delete_is_404() {
    let sb = start().await;
    let contact = sb
        .handle
        .put_engage_contact(json!({"email": "b@example.com"}));
    let path = format!("/api/v3/contacts/{}", contact["id"].as_str().unwrap());
    let deleted = sb.engage(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert!(sb.handle.engage_contacts().is_empty());
    let again = sb.engage(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let lookup = sb
        .engage(Method::GET, "/api/v3/contacts/id?email=b@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(lookup.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_guest_contact_is_promoted_to_member() {
    let sb = start().await;
    let contact = sb
        .handle
        .put_engage_contact(json!({"email": "g@example.com", "contactType": "Contact"}));
    let id = contact["id"].as_str().unwrap();
    let promoted = sb
        .engage(
            Method::POST,
            &format!("/api/v3/contacts/{id}/updateContactType?contactTypeId=Member"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(promoted.status(), StatusCode::OK);
    assert_eq!(sb.handle.engage_contacts()[0]["contactType"], "Member");
}

#[tokio::test]
async fn an_order_is_created_once_and_a_second_create_is_409() {
    let sb = start().await;
    let order = json!({"orderId": "250", "status": "Pending", "contact": {"matchKey": "jane.doe@example.com", "matchKeyType": "Email"}});
    let created = sb
        .engage(Method::POST, "/api/v3/orders")
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::ACCEPTED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let job_id = json(created).await["jobId"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v3/orders/jobs/{job_id}"));
    assert_eq!(sb.handle.engage_orders(), vec![order.clone()]);

    let again = sb
        .engage(Method::POST, "/api/v3/orders")
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(sb.handle.engage_orders().len(), 1);

    let no_id = sb
        .engage(Method::POST, "/api/v3/orders")
        .json(&json!({"status": "Pending"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_id.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_order_is_replaced_by_put_and_an_unknown_one_is_404() {
    let sb = start().await;
    sb.engage(Method::POST, "/api/v3/orders")
        .json(&json!({"orderId": "SE-250", "status": "Pending"}))
        .send()
        .await
        .unwrap();
    let replaced = sb
        .engage(Method::PUT, "/api/v3/orders/SE-250")
        .json(&json!({"orderId": "SE-250", "status": "Completed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), StatusCode::ACCEPTED);
    let fetched = sb
        .engage(Method::GET, "/api/v3/orders/SE-250")
        .send()
        .await
        .unwrap();
    assert_eq!(json(fetched).await["status"], "Completed");
    assert_eq!(
        sb.handle.engage_order("SE-250").unwrap()["status"],
        "Completed"
    );

    let unknown = sb
        .engage(Method::PUT, "/api/v3/orders/999")
        .json(&json!({"orderId": "999"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let unknown_get = sb
        .engage(Method::GET, "/api/v3/orders/999")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_get.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_order_job_redirects_to_the_order_and_can_be_followed() {
    let sb = start().await;
    let created = sb
        .engage(Method::POST, "/api/v3/orders")
        .json(&json!({"orderId": 77}))
        .send()
        .await
        .unwrap();
    let job_id = json(created).await["jobId"].as_str().unwrap().to_owned();
    let job = sb
        .engage(Method::GET, &format!("/api/v3/orders/jobs/{job_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(job.status(), StatusCode::FOUND);
    assert_eq!(job.headers()["location"], "/api/v3/orders/77");

    let following = reqwest::Client::new();
    let followed = following
        .get(format!(
            "{}/api/v3/orders/jobs/{job_id}",
            sb.handle.engage_url()
        ))
        .header("apikey", "key")
        .header("User-Agent", "t/1")
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), StatusCode::OK);
    assert_eq!(json(followed).await["orderId"], 77);
}

#[tokio::test]
async fn tracking_calls_are_accepted_and_need_their_key_field() {
    let sb = start().await;
    let view = sb
        .engage(Method::POST, "/api/v2/tracking/productview")
        .json(&json!({"itemId": "CARD-GRY", "category": "Clothing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(view.status(), StatusCode::ACCEPTED);
    let bad_view = sb
        .engage(Method::POST, "/api/v2/tracking/productview")
        .json(&json!({"category": "Clothing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_view.status(), StatusCode::BAD_REQUEST);
    let cart = sb
        .engage(Method::POST, "/api/v2/tracking/carts")
        .json(&json!({"cartReference": "d30016e2", "items": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(cart.status(), StatusCode::ACCEPTED);
    let bad_cart = sb
        .engage(Method::POST, "/api/v2/tracking/carts")
        .json(&json!({"items": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_cart.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_missing_apikey_is_refused_with_401() {
    let sb = start().await;
    let response = sb
        .http
        .get(format!(
            "{}/api/v3/contacts/id?email=a@example.com",
            sb.handle.engage_url()
        ))
        .header("User-Agent", "t/1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_missing_user_agent_is_refused_with_400() {
    let sb = start().await;
    let response = sb
        .http
        .get(format!("{}/api/v2/contacts/count", sb.handle.engage_url()))
        .header("apikey", "key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_body_without_json_content_type_gets_engages_500() {
    let sb = start().await;
    let response = sb
        .engage(Method::POST, "/api/v3/contacts")
        .body(r#"{"email":"c@example.com"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        json(response).await,
        json!({"message": "An error has occurred."})
    );
    assert!(sb.handle.engage_contacts().is_empty());
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let sb = start().await;
    let response = sb
        .engage(Method::POST, "/api/v3/orders")
        .header("Content-Type", "application/json")
        .body("{\"orderId\":")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
