//! The accept loop: HTTP/1.1 and HTTP/2 (prior knowledge) on one port, and
//! the ordered drain. On shutdown the listener closes, in-flight calls run
//! to completion (HTTP/2 gets a GOAWAY, HTTP/1 connections close after
//! their current request) for up to the drain timeout, then it returns.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::shutdown::Shutdown;

/// Serves `router` on `listener` (HTTP/1.1 and HTTP/2 prior-knowledge on one
/// port) until `shutdown` fires, then drains for at most `drain_timeout`.
/// Each request carries `ConnectInfo<SocketAddr>` of its peer.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
    drain_timeout: Duration,
    on_draining: impl FnOnce(),
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let svc = tower::ServiceExt::map_request(router.clone(), move |mut req: http::Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc));
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection closed with error");
                    }
                });
            }
        }
    }
    on_draining();
    drop(listener);
    let in_flight = graceful.count();
    info!(
        connections = in_flight,
        "listener closed, draining in-flight calls"
    );
    tokio::select! {
        _ = graceful.shutdown() => info!("drained"),
        _ = tokio::time::sleep(drain_timeout) => {
            warn!(timeout_ms = drain_timeout.as_millis() as u64, "drain timeout, closing remaining connections");
        }
    }
    Ok(())
}

/// Binds a listener, naming the address on failure.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}
