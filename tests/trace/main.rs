//! One trace from the webhook to the Engage call.
