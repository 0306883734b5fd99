//! The local model as an OpenAI-compatible `/v1/chat/completions` endpoint (the router that
//! `pertaudit serve` runs on 127.0.0.1), so tests and other tools reach it over real HTTP like
//! vLLM or llama.cpp's server.

#[cfg(feature = "local-llm")]
pub use imp::router;

#[cfg(feature = "local-llm")]
mod imp {
    use crate::llm::embedded::engine::Engine;
    use crate::llm::embedded::EngineError;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::{json, Value};
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
}
