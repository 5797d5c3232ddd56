//! Shared set-up: a started sandbox and clients that send the headers each API wants.

use reqwest::{Client, Method, RequestBuilder};
use sandbox::{Sandbox, SandboxHandle, Seed};
use serde_json::Value;

pub const STORE: &str = "abc123";

pub struct TestSandbox {
    pub handle: SandboxHandle,
    pub http: Client,
}

pub async fn start() -> TestSandbox {
    start_with(Seed::default_fixtures()).await
}

pub async fn start_with(seed: Seed) -> TestSandbox {
    let handle = Sandbox::start("127.0.0.1:0", seed)
        .await
        .expect("sandbox starts");
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestSandbox { handle, http }
}

impl TestSandbox {
    /// A BigCommerce call on the fixture store, authenticated.
    pub fn bc(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(
                method,
                format!("{}/stores/{STORE}{path}", self.handle.bigcommerce_url()),
            )
            .header("X-Auth-Token", "token")
            .header("Accept", "application/json")
    }

    /// An Engage call with `apikey` and `User-Agent`.
    pub fn engage(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.handle.engage_url()))
            .header("apikey", "key")
            .header("User-Agent", "sandbox-tests/1")
    }

    pub fn control(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}/_sandbox{path}", self.handle.base_url()))
    }
}

pub async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../fixtures/bigcommerce/api/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
