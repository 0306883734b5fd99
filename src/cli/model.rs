//! `pertaudit serve` and `pertaudit model`: the embedded model (or the scripted test server)
//! as a foreground process on 127.0.0.1; it prints its address on stdout.

use crate::cli::args::ServeArgs;
use anyhow::Result;

pub fn serve(a: &ServeArgs) -> Result<()> {
    if a.scripted {
        return scripted(a);
    }
    #[cfg(feature = "local-llm")]
    {
        serve_local(a)
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
        outln!("listening on {}", s.base_url());
        std::io::stdout().flush()?;
        let _ = tokio::signal::ctrl_c().await;
        drop(s);
        anyhow::Ok(())
    })
}

#[cfg(feature = "local-llm")]
fn serve_local(a: &ServeArgs) -> Result<()> {
    use crate::llm::embedded::serve::router;
    use std::io::Write;
    let path = a
        .model
        .clone()
        .unwrap_or_else(crate::llm::embedded::default_model_path);
    let engine = crate::llm::embedded::shared(&path)?;
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
        outln!("listening on http://{addr}/v1");
        std::io::stdout().flush()?;
        axum::serve(listener, router(engine))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        anyhow::Ok(())
    })
}
