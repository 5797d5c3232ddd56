//! The `order-processor` binary: see the library for what it does.

use order_processor::{Application, SERVICE};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = match platform::Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("{SERVICE}: configuration error: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let _telemetry = match platform::telemetry::init(SERVICE, &settings.telemetry) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("{SERVICE}: telemetry: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = async {
        let app = Application::build(settings).await?;
        app.run_until_stopped(platform::shutdown_signal()).await
    };
    if let Err(error) = result.await {
        eprintln!("{SERVICE}: {error:#}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
