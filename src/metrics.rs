//! `[metrics] listen`: serves the process's telemetry as Prometheus text at `/metrics` and a
//! JSON `/health` that answers 200 while every enabled stream polled successfully within two
//! intervals (or the run is younger than that), 503 otherwise, naming the failing streams.
//! `/health/ready` is for a readiness probe: 503 only when the process cannot work at all (a
//! shard mismatch) or every tenant is failing, so one tenant that revoked consent does not take
//! a pod out. `/health/live` answers 200 while the process serves at all: a liveness probe (a
//! restart mends a wedged process, never a revoked permission or a Graph outage, which
//! `/health` reports).

use std::net::SocketAddr;

/// 200 or 503 with the JSON body.
fn verdict((ok, body): (bool, serde_json::Value)) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

/// Serves `/metrics` and `/health` on `listen` until `shutdown`.
pub async fn serve(
    listen: SocketAddr,
    shutdown: crate::shutdown::Shutdown,
) -> Result<(), std::io::Error> {
    use axum::http::header;
    use axum::routing::get as route;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let app = axum::Router::new()
        .route(
            "/metrics",
            route(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    crate::telemetry::render(),
                )
            }),
        )
        .route(
            "/health",
            route(|| async { verdict(crate::telemetry::health()) }),
        )
        .route(
            "/health/ready",
            route(|| async { verdict(crate::telemetry::readiness()) }),
        )
        .route(
            "/health/live",
            route(|| async { axum::Json(serde_json::json!({ "status": "alive" })) }),
        );
    tracing::info!(%listen, "serving /metrics, /health, /health/ready and /health/live");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.wait().await })
            .await;
    });
    Ok(())
}
