//! The dashboard: one server publishing live finance quotes, user activity,
//! per-client notifications with priorities, a log console and a
//! record-generation job (each bounded in memory however long it runs),
//! followed by Rust clients over WebSocket and SSE, and by a browser page at
//! `/`.
//!
//! ```sh
//! cargo run --all-features --example dashboard                 # server, publishers and Rust clients
//! cargo run --all-features --example dashboard -- --serve-only # just the server: open http://127.0.0.1:7878/
//! cargo run --all-features --example dashboard -- --addr 127.0.0.1:9000 --for 10
//! ```
//!
//! Several dashboards on one Redis serve the same topics, numbered once
//! (feature `redis`): one publishes, the other only serves.
//!
//! ```sh
//! cargo run --all-features --example dashboard -- --redis redis://127.0.0.1:6379 --addr 127.0.0.1:7878
//! cargo run --all-features --example dashboard -- --redis redis://127.0.0.1:6379 --addr 127.0.0.1:7879 --no-publishers
//! ```
//!
//! Over TLS (`https://`, `wss://`), with a certificate and its key in PEM;
//! the Rust clients trust the certificates of `--tls-cert` (a self-signed
//! one, as made here, or a chain that ends with its CA):
//!
//! ```sh
//! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
//!   -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
//!   -addext basicConstraints=critical,CA:FALSE -keyout key.pem -out cert.pem
//! cargo run --all-features --example dashboard -- --tls-cert cert.pem --tls-key key.pem
//! ```
//!
//! The page at `/` follows every topic with the crate's browser client,
//! served at `/live/client.js`. With `DASHBOARD_ADMIN_PASSWORD` set, the
//! admin view is at `/live/_admin` (user `admin`, that password); without
//! it there is none.
//!
//! The first line printed is `listening on http://ADDR` (`https://` with
//! TLS). With the `socketio` feature, Socket.IO clients can subscribe at the
//! same address (`/socket.io/`), with the events of `live_resource::socketio`.

mod clients;
mod publishers;
mod records;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, Method, header};
use axum::response::Html;
use axum::routing::get;
use live_resource::Hub;
use live_resource::client::Tls;
use live_resource::rustls::ServerConfig;
use live_resource::rustls::pki_types::pem::PemObject;
use live_resource::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use live_resource::server::Config;
use tower_http::cors::CorsLayer;

struct Options {
    addr: SocketAddr,
    serve_only: bool,
    publishers: bool,
    redis: Option<String>,
    run_for: Option<Duration>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 7878)),
        serve_only: false,
        publishers: true,
        redis: None,
        run_for: None,
        tls_cert: None,
        tls_key: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => {
                let value = args
                    .next()
                    .ok_or("--addr needs an address, like 127.0.0.1:7878")?;
                options.addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?;
            }
            "--serve-only" => options.serve_only = true,
            "--no-publishers" => options.publishers = false,
            "--redis" => {
                let url = args
                    .next()
                    .ok_or("--redis needs a URL, like redis://127.0.0.1:6379")?;
                options.redis = Some(url);
            }
            "--tls-cert" => {
                let path = args.next().ok_or("--tls-cert needs a PEM file")?;
                options.tls_cert = Some(path.into());
            }
            "--tls-key" => {
                let path = args.next().ok_or("--tls-key needs a PEM file")?;
                options.tls_key = Some(path.into());
            }
            "--for" => {
                let value = args.next().ok_or("--for needs a number of seconds")?;
                let seconds: u64 = value.parse().map_err(|e| format!("--for {value}: {e}"))?;
                options.run_for = Some(Duration::from_secs(seconds));
            }
            "-h" | "--help" => {
                return Err(
                    "usage: dashboard [--addr HOST:PORT] [--serve-only] [--no-publishers] \
                     [--redis URL] [--tls-cert PEM --tls-key PEM] [--for SECONDS]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    if options.tls_cert.is_some() != options.tls_key.is_some() {
        return Err("--tls-cert and --tls-key go together".into());
    }
    Ok(options)
}

/// The server's TLS settings from the PEM files, and the clients', which
/// trust the server's certificates.
fn tls(cert: &PathBuf, key: &PathBuf) -> Result<(Arc<ServerConfig>, Tls), String> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|error| format!("reading {}: {error}", path.display()))
    };
    let (chain_pem, key_pem) = (read(cert)?, read(key)?);
    let chain = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{}: {error}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|error| format!("{}: {error}", key.display()))?;
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| format!("the certificate and key: {error}"))?;
    let clients = Tls::new()
        .add_root_certificate(&chain_pem)
        .map_err(|error| format!("{}: {error}", cert.display()))?;
    Ok((Arc::new(server), clients))
}

/// The local replica of the topics on the Redis at `url`, which this
/// process publishes to if `publishers`, and what keeps it current.
#[cfg(feature = "redis")]
async fn on_redis(url: &str, publishers: bool) -> (Hub, Box<dyn std::any::Any>) {
    let redis = match live_resource::redis::RedisHub::connect(url).await {
        Ok(redis) => redis,
        Err(error) => {
            eprintln!("cannot reach Redis at {url}: {error}");
            std::process::exit(1);
        }
    };
    if publishers {
        if let Err(error) = publishers::start(&redis).await {
            eprintln!("cannot publish to Redis at {url}: {error}");
            std::process::exit(1);
        }
    }
    // The replica serves as long as its `RedisHub` lives: main keeps both.
    (redis.hub().clone(), Box::new(redis))
}

#[cfg(not(feature = "redis"))]
async fn on_redis(_url: &str, _publishers: bool) -> (Hub, Box<dyn std::any::Any>) {
    eprintln!("--redis needs the `redis` feature: cargo run --all-features --example dashboard");
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };

    let (hub, _redis) = match &options.redis {
        None => {
            // Topics live in memory only: numbered from the clock, a browser
            // or client that resumes across a restart of this server is sent
            // to a new snapshot instead of being replayed the new history's
            // updates.
            let hub = Hub::builder().versions_from_clock().build();
            if options.publishers {
                publishers::start(&hub).await.expect("fresh topics");
            }
            (hub, Box::new(()) as Box<dyn std::any::Any>)
        }
        Some(url) => on_redis(url, options.publishers).await,
    };

    // A browser app on another origin may read the live routes with its
    // cookies: name the origins, never a wildcard with credentials. CORS
    // covers snapshots and SSE; WebSocket and Socket.IO connections are
    // checked against the config's own list.
    const FRONT_ENDS: [&str; 2] = ["http://localhost:3000", "http://127.0.0.1:3000"];
    let mut config = Config::default().allowed_origins(FRONT_ENDS);
    // The admin view, at /live/_admin, only with a password of the
    // operator's: there is no default one.
    let admin = std::env::var("DASHBOARD_ADMIN_PASSWORD").ok();
    if let Some(password) = &admin {
        config = config.admin(live_resource::server::basic_auth("admin", password));
    }
    let cors = CorsLayer::new()
        .allow_origin(FRONT_ENDS.map(HeaderValue::from_static))
        .allow_methods([Method::GET])
        .allow_headers([
            header::AUTHORIZATION,
            header::IF_NONE_MATCH,
            "last-event-id".parse().unwrap(),
        ])
        .allow_credentials(true);
    let app = live_resource::server::router_with(hub.clone(), config.clone())
        .route("/", get(|| async { Html(include_str!("page.html")) }));
    // Socket.IO front ends subscribe at `/socket.io/` on the same address.
    #[cfg(feature = "socketio")]
    let app = app.layer(live_resource::socketio::layer_with(hub.clone(), config).0);
    let app = app.layer(cors);

    let listener = match tokio::net::TcpListener::bind(options.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {}: {error}", options.addr);
            std::process::exit(1);
        }
    };
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    // Bounded as a server on the internet must be: header-read time, open
    // connections (see `server::serve`).
    let server = live_resource::server::serve(listener, app);
    let (server, client_tls) = match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => match tls(cert, key) {
            Ok((config, clients)) => (server.tls(config), Some(clients)),
            Err(message) => {
                eprintln!("{message}");
                std::process::exit(1);
            }
        },
        _ => (server, None),
    };
    let scheme = if client_tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("listening on {scheme}://{addr}");
    if admin.is_some() {
        println!("admin view on {scheme}://{addr}/live/_admin (user `admin`)");
    }
    tokio::spawn(server.into_future());

    if !options.serve_only {
        clients::start(addr, client_tls);
    }
    match options.run_for {
        Some(duration) => tokio::time::sleep(duration).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    // Returning ends the runtime: server, publishers and clients stop together.
}
