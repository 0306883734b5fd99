//! `pertaudit serve`: the local model as an OpenAI-compatible `/v1/chat/completions` endpoint
//! on 127.0.0.1, so tests and other tools reach it over real HTTP like vLLM or llama.cpp's server.

use crate::cli::args::ServeArgs;
use anyhow::Result;

#[cfg(feature = "local-llm")]
pub use imp::router;

pub fn serve(a: &ServeArgs) -> Result<()> {
    if a.scripted {
        return scripted(a);
    }
    #[cfg(feature = "local-llm")]
    {
        imp::serve(a)
    }
    #[cfg(not(feature = "local-llm"))]
    {
        anyhow::bail!(
            "this pertaudit was built without the `local-llm` feature; rebuild with default features"
        )
    }
}

/// The scripted test server as a process, on a free port of 127.0.0.1 (for demos and
/// cross-process runs); the address is printed on stdout.
fn scripted(a: &ServeArgs) -> Result<()> {
    use std::io::Write;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let s = crate::llm::scripted::ScriptedServer::start(std::time::Duration::from_millis(
            a.delay_ms,
        ))
        .await?;
        println!("listening on {}", s.base_url());
        std::io::stdout().flush()?;
        let _ = tokio::signal::ctrl_c().await;
        drop(s);
        anyhow::Ok(())
    })
}

#[cfg(feature = "local-llm")]
mod imp {
    use super::*;
    use crate::llm::local::engine::Engine;
    use crate::llm::local::EngineError;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::{json, Value};
    use std::io::Write;
    use std::sync::Arc;

    fn error(status: StatusCode, msg: &str) -> Response {
        (
            status,
            Json(json!({"error": {"message": msg, "type": "invalid_request_error"}})),
        )
            .into_response()
    }

    async fn chat(State(engine): State<Arc<Engine>>, body: axum::body::Bytes) -> Response {
        let v: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")),
        };
        if v.get("stream").and_then(Value::as_bool) == Some(true) {
            return error(
                StatusCode::BAD_REQUEST,
                "streaming is not supported; send stream: false",
            );
        }
        match engine.chat(v).await {
            Ok(answer) => Json(answer).into_response(),
            Err(EngineError::BadRequest(m)) => error(StatusCode::BAD_REQUEST, &m),
            Err(EngineError::Internal(m)) => error(StatusCode::INTERNAL_SERVER_ERROR, &m),
        }
    }

    async fn models(State(engine): State<Arc<Engine>>) -> Response {
        Json(json!({"object": "list", "data": [{"id": engine.info.name, "object": "model", "owned_by": "pertaudit",
            "sha256": engine.info.sha256, "context_length": engine.info.n_ctx}]}))
        .into_response()
    }

    pub fn router(engine: Arc<Engine>) -> Router {
        Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/models", get(models))
            .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
            .with_state(engine)
    }

    pub fn serve(a: &ServeArgs) -> Result<()> {
        let path = a
            .model
            .clone()
            .unwrap_or_else(crate::llm::local::default_model_path);
        let engine = crate::llm::local::shared(&path)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind((a.host.as_str(), a.port))
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", a.host, a.port))?;
            let addr = listener.local_addr()?;
            eprintln!(
                "serving {} (sha256 {}…) — a tiny local model: its answers test the pipeline, they are not evidence",
                engine.info.name,
                &engine.info.sha256[..12]
            );
            println!("listening on http://{addr}/v1");
            std::io::stdout().flush()?;
            axum::serve(listener, router(engine))
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
            anyhow::Ok(())
        })
    }
}
