//! A long-running program that keeps working through token and CA rotation: GET a path on
//! the API server the default chain finds, every INTERVAL_MS milliseconds, COUNT times.
//!
//! ```text
//! cargo run -p kubecred-client --example poll -- PATH INTERVAL_MS COUNT
//! ```
//!
//! - `COUNT` 0 polls forever; between requests it sleeps `INTERVAL_MS`.
//! - stdout: one line per request, `<n> <status> <ms>` (`n` from 1; `ms` the whole request,
//!   any retry included: a `401` retried into a `200` is one `200` line), or `<n> error <ms>`
//!   for a transport error, after which polling goes on.
//! - stderr: warnings (`RUST_LOG` overrides the level), and the reason of a start-up failure.
//! - exit: 0 when every request got a 2xx; 1 when any failed, or the client could not be
//!   built (then no line is printed); 2 for bad arguments.
//! - `KUBECRED_REFRESH_SECS` sets the token and CA re-read periods;
//!   `KUBECRED_SERVICEACCOUNT_DIR` moves the in-cluster files.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kubecred_client::{error_chain, Client};

const USAGE: &str = "usage: poll PATH INTERVAL_MS COUNT   (PATH starts with /; COUNT 0 = forever)";

struct Args {
    path: String,
    interval: Duration,
    count: u64,
}

fn parse_args() -> Result<Args, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, interval, count] = args.as_slice() else {
        return Err(format!("expected 3 arguments, got {}", args.len()));
    };
    if !path.starts_with('/') {
        return Err("PATH must start with '/'".to_owned());
    }
    let interval = interval
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| "INTERVAL_MS must be a whole number of milliseconds".to_owned())?;
    let count = count
        .parse()
        .map_err(|_| "COUNT must be a whole number (0 = forever)".to_owned())?;
    Ok(Args {
        path: path.clone(),
        interval,
        count,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(problem) => {
            eprintln!("poll: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("poll: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(poll(args))
}

async fn poll(args: Args) -> ExitCode {
    let client = match Client::builder().build().await {
        Ok(client) => client,
        Err(error) => {
            eprintln!("poll: {}", error_chain(&error));
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    let mut stdout = std::io::stdout();
    let mut n: u64 = 0;
    while args.count == 0 || n < args.count {
        n += 1;
        let started = Instant::now();
        let request = http::Request::get(args.path.as_str())
            .body(Bytes::new())
            .expect("a path starting with / is a valid request URI");
        let outcome = client.request(request).await;
        let ms = started.elapsed().as_millis();
        let line = match outcome {
            Ok(response) => {
                failed |= !response.status().is_success();
                format!("{n} {} {ms}", response.status().as_u16())
            }
            Err(error) => {
                failed = true;
                tracing::warn!(request = n, error = %error_chain(&error), "request failed");
                format!("{n} error {ms}")
            }
        };
        // A closed stdout ends the program (e.g. `poll … | head`).
        if writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
        if args.count == 0 || n < args.count {
            tokio::time::sleep(args.interval).await;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
