//! The tracking-forwarder binary: see the library's documentation.

use tracking_forwarder::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = match platform::Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("tracking-forwarder: invalid configuration: {error}");
            std::process::exit(2);
        }
    };
    let _telemetry = platform::telemetry::init("tracking-forwarder", &settings.telemetry)?;
    let application = Application::build(settings).await?;
    application
        .run_until_stopped(platform::shutdown_signal())
        .await
}
