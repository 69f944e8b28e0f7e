//! The `hotcache` binary: parse flags and config, set up logging, run the server
//! until SIGINT or SIGTERM.

use std::process::ExitCode;

use hotcache::config::{self, Cli, Config, LogFormat};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Logs to stderr, as text or JSON, with a level CONFIG SET can change later
/// (`HOTCACHE_LOG`, an env-filter string, overrides the level at start).
fn init_logging(config: &Config) {
    use tracing_subscriber::{
        EnvFilter, fmt, layer::SubscriberExt, reload, util::SubscriberInitExt,
    };
    let filter = EnvFilter::try_from_env("HOTCACHE_LOG")
        .unwrap_or_else(|_| EnvFilter::new(&config.loglevel));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match config.log_format {
        LogFormat::Json => registry.with(fmt::layer().json().with_writer(std::io::stderr)).init(),
        LogFormat::Text => registry.with(fmt::layer().with_writer(std::io::stderr)).init(),
    }
    hotcache::resilience::logging::set_level_hook(Box::new(move |level| {
        let _ = handle.reload(EnvFilter::new(level));
    }));
}

/// Raises the open-file limit to the hard limit, so `maxclients` can be reached.
fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() -> ExitCode {
    let (config, file) = match config::parse_args(std::env::args().skip(1)) {
        Ok(Cli::Run(c, file)) => (c, file),
        Ok(Cli::Check(c)) => {
            // The TLS files are part of the configuration: they must load.
            if let Err(e) = hotcache::tls::check(&c) {
                eprintln!("hotcache: TLS: {e}");
                return ExitCode::from(2);
            }
            println!("configuration OK");
            return ExitCode::SUCCESS;
        }
        Ok(Cli::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Cli::Version) => {
            println!("hotcache {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("hotcache: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    raise_fd_limit();
    let upstream = match config.upstream.addr() {
        Some(a) => a,
        None if config.cluster.is_on() => format!("cluster {}", config.cluster.addrs.join(",")),
        None if config.sentinel.is_on() => format!(
            "sentinel master '{}' via {}",
            config.sentinel_master,
            config.sentinel.addrs.join(",")
        ),
        None => "the embedded origin".to_string(),
    };
    let threads = config.thread_count();
    let server = match hotcache::server::start_with_file(config, file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hotcache: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match server.tls_addr {
        Some(tls) => {
            tracing::info!(addr = %server.addr, tls = %tls, threads, upstream = %upstream, "hotcache ready")
        }
        None => {
            tracing::info!(addr = %server.addr, threads, upstream = %upstream, "hotcache ready")
        }
    }
    let shared = server.shared.clone();
    let signals = std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(_) => return,
        };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) =
                (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
            else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        });
        tracing::info!("shutting down: finishing replies in flight");
        shared.shutdown();
    });
    server.wait();
    drop(signals);
    tracing::info!("bye");
    ExitCode::SUCCESS
}
