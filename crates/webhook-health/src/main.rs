//! The webhook-health binary: see the library's documentation.

use webhook_health::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = match platform::Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("webhook-health: invalid configuration: {error}");
            std::process::exit(2);
        }
    };
    let _telemetry = platform::telemetry::init("webhook-health", &settings.telemetry)?;
    let application = Application::build(settings).await?;
    application
        .run_until_stopped(platform::shutdown_signal())
        .await
}
