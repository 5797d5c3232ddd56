//! `ingress`: verified webhooks and tracking beacons into RabbitMQ.

use platform::Settings;

#[tokio::main]
async fn main() {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("ingress: {error}");
            std::process::exit(2);
        }
    };
    let _telemetry = platform::telemetry::init("ingress", &settings.telemetry);
    let result = async {
        let app = ingress::Application::build(settings).await?;
        println!("ingress listening on http://{}", app.addr());
        app.run_until_stopped(platform::shutdown_signal()).await
    }
    .await;
    if let Err(error) = result {
        eprintln!("ingress: {error:#}");
        std::process::exit(1);
    }
}
