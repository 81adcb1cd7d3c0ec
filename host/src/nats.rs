//! What the NATS clients (the source in `receiver/nats.rs`, the sink in `sink/nats.rs`) share:
//! connecting with the connection's losses and returns logged, naming who waits for the server. The
//! client reconnects by itself; without these lines a restarted server would go unmentioned.

/// Connects to `url` for `who` (``source `events` ``, ``sink `out` ``).
pub async fn connect(url: &str, who: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    let (who, at) = (who.to_string(), url.to_string());
    async_nats::ConnectOptions::new()
        .event_callback(move |event| {
            let (who, at) = (who.clone(), at.clone());
            async move {
                match event {
                    async_nats::Event::Disconnected => tracing::warn!("{who} lost NATS at {at}; waiting for it"),
                    async_nats::Event::Connected => tracing::info!("{who} is connected to NATS at {at}"),
                    async_nats::Event::ClientError(e) => tracing::debug!("{who}: NATS at {at}: {e}"),
                    other => tracing::info!("{who}: NATS at {at}: {other}"),
                }
            }
        })
        .connect(url)
        .await
}
