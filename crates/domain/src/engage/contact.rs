//! Contacts: BigCommerce customers, subscribers and order billing addresses → Engage
//! contact payloads.

use serde::Serialize;

use super::{street, text, usable_email, ContactType, Field, MappingError};
use crate::bigcommerce::{Customer, Order, Subscriber};
use crate::channel::{ChannelSettings, ContactTypeMode};
use crate::ids::CustomerId;
use crate::phone::{normalize_phone, E164Phone, PhoneOutcome};
use crate::serde_util::iso8601;

/// Id of the consent that marks account holders.
pub const HAS_ACCOUNT_CONSENT: &str = "hasAccount";

/// The body of a contact create (`POST /api/v3/contacts`) or, through
/// [`ContactPayload::for_update`], update (`PATCH /api/v3/contacts/{id}`).
///
/// Only mapped fields are present. An absent key keeps Engage's value; `null` (only
/// `mobilePhone`, for an invalid number) clears it. Blank BigCommerce text is left out
/// rather than sent empty, because Engage treats an empty value as "overwrite".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactPayload {
    /// The BigCommerce customer id, as text (customers only).
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub external_id: Field<String>,
    /// E-mail: the key contacts are found by.
    pub email: String,
    /// First name.
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub first_name: Field<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub last_name: Field<String>,
    /// E.164 mobile phone; `null` when invalid; absent when unknown or blank.
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub mobile_phone: Field<E164Phone>,
    /// Street (address line 1, then line 2).
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub street: Field<String>,
    /// Postal code.
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub zip_code: Field<String>,
    /// City.
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub city: Field<String>,
    /// Country (ISO 3166-1 alpha-2, upper case).
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub country_code: Field<String>,
    /// Contact type: only on create, Engage cannot change it by PATCH.
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub contact_type: Field<ContactType>,
    /// Consents (`hasAccount` for account holders).
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub consents: Field<Vec<Consent>>,
    /// Communication preferences (newsletter opt-in).
    #[serde(skip_serializing_if = "Field::is_absent")]
    pub preferences: Field<Preferences>,
}

impl ContactPayload {
    /// The same payload without `contactType`, for `PATCH` (Engage changes types only
    /// through `updateContactType`).
    pub fn for_update(&self) -> ContactPayload {
        ContactPayload {
            contact_type: Field::Absent,
            ..self.clone()
        }
    }
}

/// One consent: `{"id": "hasAccount", "value": true, "date": "...", "source": "ECOM"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    /// Consent id as configured in Engage.
    pub id: String,
    /// Given or not.
    pub value: bool,
    /// When it was given (the account's creation), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The channel's Engage source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Communication preferences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    /// Newsletter opt-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepts_email: Option<bool>,
}

/// The `mobilePhone` field for a customer.
///
/// The phone is the customer's `phone`, or the first address's when that is blank, parsed
/// against the first address's country. Valid → the E.164 number; invalid → `null`
/// (clears a bad value in Engage); no address → absent (Engage keeps what it had). A
/// blank phone is absent too: there is nothing to say, and clearing would erase a number
/// Engage may have from another source.
pub fn customer_phone(customer: &Customer) -> Field<E164Phone> {
    let address = customer.addresses.first();
    let raw = if customer.phone.trim().is_empty() {
        address.map_or("", |a| a.phone.as_str())
    } else {
        customer.phone.as_str()
    };
    phone_field(raw, address.map(|a| a.country_code.as_str()))
}

fn phone_field(raw: &str, country: Option<&str>) -> Field<E164Phone> {
    if raw.trim().is_empty() {
        return Field::Absent;
    }
    match normalize_phone(raw, country) {
        PhoneOutcome::Valid(phone) => Field::Value(phone),
        PhoneOutcome::Invalid => Field::Null,
        PhoneOutcome::UnknownCountry => Field::Absent,
    }
}

fn country_code(raw: &str) -> Field<String> {
    match text(raw) {
        Field::Value(code) => Field::Value(code.to_ascii_uppercase()),
        other => other,
    }
}

fn has_account(date: Option<String>, settings: &ChannelSettings) -> Field<Vec<Consent>> {
    Field::Value(vec![Consent {
        id: HAS_ACCOUNT_CONSENT.to_owned(),
        value: true,
        date,
        source: Some(settings.source.clone()),
    }])
}

/// The contact for a BigCommerce customer (an account holder): always a `Member` with
/// the `hasAccount` consent; address fields from the first address.
pub fn map_customer(
    customer: &Customer,
    settings: &ChannelSettings,
) -> Result<ContactPayload, MappingError> {
    let email =
        usable_email(&customer.email).ok_or(MappingError::MissingCustomerEmail(customer.id))?;
    let address = customer.addresses.first();
    Ok(ContactPayload {
        external_id: Field::Value(customer.id.to_string()),
        email,
        first_name: text(&customer.first_name),
        last_name: text(&customer.last_name),
        mobile_phone: customer_phone(customer),
        street: address.map_or(Field::Absent, |a| text(&street(&a.address1, &a.address2))),
        zip_code: address.map_or(Field::Absent, |a| text(&a.postal_code)),
        city: address.map_or(Field::Absent, |a| text(&a.city)),
        country_code: address.map_or(Field::Absent, |a| country_code(&a.country_code)),
        contact_type: Field::Value(ContactType::Member),
        consents: has_account(customer.date_created.map(iso8601), settings),
        preferences: Field::Absent,
    })
}

/// The contact for a newsletter subscriber: e-mail, names and the opt-in
/// (`preferences.acceptsEmail` = the subscriber has at least one consent; an empty list
/// means unsubscribed, so it is sent as `false`). A subscriber is not an account holder:
/// `Contact` in member-and-contact mode, `Member` in all-member mode.
pub fn map_subscriber(
    subscriber: &Subscriber,
    settings: &ChannelSettings,
) -> Result<ContactPayload, MappingError> {
    let email = usable_email(&subscriber.email)
        .ok_or(MappingError::MissingSubscriberEmail(subscriber.id))?;
    let contact_type = match settings.contact_type_mode {
        ContactTypeMode::AllMember => ContactType::Member,
        ContactTypeMode::MemberAndContact => ContactType::Contact,
    };
    Ok(ContactPayload {
        email,
        first_name: text(&subscriber.first_name),
        last_name: text(&subscriber.last_name),
        contact_type: Field::Value(contact_type),
        preferences: Field::Value(Preferences {
            accepts_email: Some(!subscriber.consents.is_empty()),
        }),
        ..ContactPayload::default()
    })
}

/// The contact type for an order's contact: guests (customer id 0) are `Contact`s in
/// member-and-contact mode; everyone else, and everyone in all-member mode, is a
/// `Member`.
pub fn contact_type_for_order(customer_id: CustomerId, mode: ContactTypeMode) -> ContactType {
    match mode {
        ContactTypeMode::MemberAndContact if customer_id.is_guest() => ContactType::Contact,
        _ => ContactType::Member,
    }
}

/// The contact to create when an order's billing e-mail has no Engage contact yet:
/// names, phone and address from the billing address, the type from
/// [`contact_type_for_order`]. Account holders also get `externalId` and the
/// `hasAccount` consent; guests get neither.
pub fn map_order_contact(
    order: &Order,
    settings: &ChannelSettings,
) -> Result<ContactPayload, MappingError> {
    let billing = &order.billing_address;
    let email = usable_email(&billing.email).ok_or(MappingError::MissingBillingEmail(order.id))?;
    let guest = order.customer_id.is_guest();
    Ok(ContactPayload {
        external_id: if guest {
            Field::Absent
        } else {
            Field::Value(order.customer_id.to_string())
        },
        email,
        first_name: text(&billing.first_name),
        last_name: text(&billing.last_name),
        mobile_phone: phone_field(&billing.phone, Some(&billing.country_iso2)),
        street: text(&street(&billing.street_1, &billing.street_2)),
        zip_code: text(&billing.zip),
        city: text(&billing.city),
        country_code: country_code(&billing.country_iso2),
        contact_type: Field::Value(contact_type_for_order(
            order.customer_id,
            settings.contact_type_mode,
        )),
        consents: if guest {
            Field::Absent
        } else {
            has_account(None, settings)
        },
        preferences: Field::Absent,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::bigcommerce::V3Response;
    use crate::ids::{ChannelId, StoreHash};

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/bigcommerce/api/",
                $name
            ))
        };
    }

    fn settings(mode: ContactTypeMode) -> ChannelSettings {
        let mut s = ChannelSettings::new(
            StoreHash::parse("abc123").unwrap(),
            ChannelId::new(1),
            "web-se",
        );
        s.contact_type_mode = mode;
        s
    }

    fn customer(body: &str) -> Customer {
        let mut r: V3Response<Vec<Customer>> = serde_json::from_str(body).unwrap();
        r.data.remove(0)
    }

    fn to_json(payload: &ContactPayload) -> Value {
        serde_json::to_value(payload).unwrap()
    }

    #[test]
    fn customer_32_maps_to_a_member_with_e164_phone_and_address() {
        let payload = map_customer(
            &customer(fixture!("v3_customers_32.json")),
            &settings(ContactTypeMode::AllMember),
        )
        .unwrap();
        assert_eq!(
            to_json(&payload),
            json!({
                "externalId": "32",
                "email": "jane.doe@example.com",
                "firstName": "Jane",
                "lastName": "Doe",
                "mobilePhone": "+46701234567",
                "street": "Drottninggatan 1",
                "zipCode": "111 51",
                "city": "Stockholm",
                "countryCode": "SE",
                "contactType": "Member",
                "consents": [{"id": "hasAccount", "value": true,
                              "date": "2025-11-01T10:00:00Z", "source": "ECOM"}]
            })
        );
    }

    #[test]
    fn customer_34_with_an_invalid_phone_sends_mobile_phone_null() {
        let payload = map_customer(
            &customer(fixture!("v3_customers_invalid_phone.json")),
            &settings(ContactTypeMode::AllMember),
        )
        .unwrap();
        let value = to_json(&payload);
        assert_eq!(value.get("mobilePhone"), Some(&Value::Null));
        assert_eq!(payload.mobile_phone, Field::Null);
    }

    #[test]
    fn customer_35_without_an_address_has_no_mobile_phone_key_at_all() {
        let payload = map_customer(
            &customer(fixture!("v3_customers_no_address.json")),
            &settings(ContactTypeMode::AllMember),
        )
        .unwrap();
        let value = to_json(&payload);
        assert!(value.get("mobilePhone").is_none(), "{value}");
        assert!(value.get("street").is_none());
        assert!(value.get("countryCode").is_none());
        assert_eq!(payload.mobile_phone, Field::Absent);
    }

    #[test]
    fn empty_customer_phone_falls_back_to_the_first_address_phone() {
        let mut c = customer(fixture!("v3_customers_32.json"));
        c.phone = String::new();
        c.addresses[0].phone = "08-123 456 78".into();
        assert_eq!(
            customer_phone(&c).value().map(E164Phone::as_str),
            Some("+46812345678")
        );
    }

    #[test]
    fn blank_phone_everywhere_leaves_the_key_out() {
        let mut c = customer(fixture!("v3_customers_32.json"));
        c.phone = " ".into();
        c.addresses[0].phone = String::new();
        assert_eq!(customer_phone(&c), Field::Absent);
    }

    #[test]
    fn address_line_2_is_appended_to_the_street() {
        let mut c = customer(fixture!("v3_customers_32.json"));
        c.addresses[0].address2 = "lgh 1102".into();
        let payload = map_customer(&c, &settings(ContactTypeMode::AllMember)).unwrap();
        assert_eq!(
            payload.street,
            Field::Value("Drottninggatan 1 lgh 1102".into())
        );
    }

    #[test]
    fn only_the_first_address_is_used() {
        let mut c = customer(fixture!("v3_customers_32.json"));
        let mut second = c.addresses[0].clone();
        second.city = "Göteborg".into();
        second.country_code = "NO".into();
        c.addresses.push(second);
        let payload = map_customer(&c, &settings(ContactTypeMode::AllMember)).unwrap();
        assert_eq!(payload.city, Field::Value("Stockholm".into()));
        assert_eq!(payload.country_code, Field::Value("SE".into()));
    }

    #[test]
    fn the_phone_is_read_in_the_country_of_the_first_address() {
        // 070-123 45 67 is a Swedish mobile number and no Norwegian one (8 digits there).
        let mut c = customer(fixture!("v3_customers_32.json"));
        let mut norwegian = c.addresses[0].clone();
        norwegian.country_code = "NO".into();
        c.addresses.push(norwegian.clone());
        assert_eq!(
            to_json(&map_customer(&c, &settings(ContactTypeMode::AllMember)).unwrap())
                ["mobilePhone"],
            "+46701234567"
        );
        c.addresses.insert(0, norwegian);
        assert!(
            to_json(&map_customer(&c, &settings(ContactTypeMode::AllMember)).unwrap())
                ["mobilePhone"]
                .is_null(),
            "read as Norwegian when the Norwegian address comes first"
        );
    }

    #[test]
    fn blank_names_are_left_out_instead_of_clearing_engage() {
        let mut c = customer(fixture!("v3_customers_32.json"));
        c.first_name = "  ".into();
        let value = to_json(&map_customer(&c, &settings(ContactTypeMode::AllMember)).unwrap());
        assert!(value.get("firstName").is_none());
        assert_eq!(value["lastName"], "Doe");
    }

    #[test]
    fn customers_are_members_in_both_modes() {
        let c = customer(fixture!("v3_customers_32.json"));
        for mode in [
            ContactTypeMode::AllMember,
            ContactTypeMode::MemberAndContact,
        ] {
            assert_eq!(
                map_customer(&c, &settings(mode)).unwrap().contact_type,
                Field::Value(ContactType::Member)
            );
        }
    }

    #[test]
    fn customer_without_email_cannot_be_mapped() {
        let mut c = customer(fixture!("v3_customers_32.json"));
        c.email = " ".into();
        assert_eq!(
            map_customer(&c, &settings(ContactTypeMode::AllMember)),
            Err(MappingError::MissingCustomerEmail(CustomerId::new(32)))
        );
    }

    #[test]
    fn update_payload_drops_the_contact_type_and_keeps_the_rest() {
        let payload = map_customer(
            &customer(fixture!("v3_customers_32.json")),
            &settings(ContactTypeMode::AllMember),
        )
        .unwrap();
        let update = payload.for_update();
        assert_eq!(update.contact_type, Field::Absent);
        assert!(to_json(&update).get("contactType").is_none());
        assert_eq!(update.email, payload.email);
        assert_eq!(update.mobile_phone, payload.mobile_phone);
    }

    #[test]
    fn subscriber_with_consents_accepts_email() {
        let r: V3Response<Subscriber> =
            serde_json::from_str(fixture!("v3_subscribers_5.json")).unwrap();
        let payload = map_subscriber(&r.data, &settings(ContactTypeMode::AllMember)).unwrap();
        assert_eq!(
            to_json(&payload),
            json!({
                "email": "news.reader@example.com",
                "firstName": "Nils",
                "lastName": "Reader",
                "contactType": "Member",
                "preferences": {"acceptsEmail": true}
            })
        );
    }

    #[test]
    fn subscriber_without_consents_does_not_accept_email() {
        let mut r: V3Response<Subscriber> =
            serde_json::from_str(fixture!("v3_subscribers_5.json")).unwrap();
        r.data.consents.clear();
        let payload = map_subscriber(&r.data, &settings(ContactTypeMode::AllMember)).unwrap();
        assert_eq!(
            to_json(&payload)["preferences"],
            json!({"acceptsEmail": false})
        );
    }

    #[test]
    fn subscriber_is_a_contact_in_member_and_contact_mode() {
        let r: V3Response<Subscriber> =
            serde_json::from_str(fixture!("v3_subscribers_5.json")).unwrap();
        let payload =
            map_subscriber(&r.data, &settings(ContactTypeMode::MemberAndContact)).unwrap();
        assert_eq!(payload.contact_type, Field::Value(ContactType::Contact));
    }

    #[test]
    fn guest_order_contact_is_a_contact_only_in_member_and_contact_mode() {
        let guest = CustomerId::GUEST;
        let member = CustomerId::new(32);
        assert_eq!(
            contact_type_for_order(guest, ContactTypeMode::MemberAndContact),
            ContactType::Contact
        );
        assert_eq!(
            contact_type_for_order(member, ContactTypeMode::MemberAndContact),
            ContactType::Member
        );
        assert_eq!(
            contact_type_for_order(guest, ContactTypeMode::AllMember),
            ContactType::Member
        );
        assert_eq!(
            contact_type_for_order(member, ContactTypeMode::AllMember),
            ContactType::Member
        );
    }

    #[test]
    fn order_contact_comes_from_the_billing_address() {
        let order: Order = serde_json::from_str(fixture!("v2_orders_250.json")).unwrap();
        let payload = map_order_contact(&order, &settings(ContactTypeMode::AllMember)).unwrap();
        assert_eq!(
            to_json(&payload),
            json!({
                "externalId": "32",
                "email": "jane.doe@example.com",
                "firstName": "Jane",
                "lastName": "Doe",
                "mobilePhone": "+46701234567",
                "street": "Drottninggatan 1",
                "zipCode": "111 51",
                "city": "Stockholm",
                "countryCode": "SE",
                "contactType": "Member",
                "consents": [{"id": "hasAccount", "value": true, "source": "ECOM"}]
            })
        );
    }

    #[test]
    fn guest_order_contact_has_no_external_id_or_account_consent() {
        let mut order: Order = serde_json::from_str(fixture!("v2_orders_250.json")).unwrap();
        order.customer_id = CustomerId::GUEST;
        let payload =
            map_order_contact(&order, &settings(ContactTypeMode::MemberAndContact)).unwrap();
        assert_eq!(payload.external_id, Field::Absent);
        assert_eq!(payload.consents, Field::Absent);
        assert_eq!(payload.contact_type, Field::Value(ContactType::Contact));
    }
}
