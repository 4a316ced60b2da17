//! `kubecred`: GET a path on the API server kubecred finds, or explain how it finds it.
//!
//! A thin layer over `kubecred-client`: parse the arguments, build the client, print. stdout
//! carries only the response body (or the `explain` report); warnings and errors go to
//! stderr. Exit codes: 0 success, 1 any failure, 2 usage errors (from clap). A stdout whose
//! reader has gone (`kubecred get ... | head -1`) ends `get` quietly with 0 (and `explain`
//! quietly with its report's code).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use kubecred_client::{error_chain, ClientBuilder, SourceName, DEFAULT_CONNECT_TIMEOUT};

/// Reach a Kubernetes API server from wherever this runs: KUBE_* environment variables, your
/// kubeconfig (with its exec credential plugins), the pod's service account, or a running
/// `kubectl proxy`.
#[derive(Debug, Parser)]
#[command(name = "kubecred", version)]
struct Cli {
    /// Use this source (repeat to build a chain, in order): env, kubeconfig, in-cluster, proxy
    #[arg(long = "source", value_name = "SOURCE", global = true)]
    sources: Vec<SourceName>,

    /// Read exactly this kubeconfig FILE (beats KUBECONFIG and ~/.kube/config)
    #[arg(long, value_name = "FILE", global = true)]
    kubeconfig: Option<PathBuf>,

    /// Use the kubeconfig context NAME instead of its current-context
    #[arg(long, value_name = "NAME", global = true)]
    context: Option<String>,

    /// Read the in-cluster token, ca.crt and namespace from DIR [env: KUBECRED_SERVICEACCOUNT_DIR]
    #[arg(long, value_name = "DIR", global = true)]
    serviceaccount_dir: Option<PathBuf>,

    /// Find kubectl proxy at URL (http://LOOPBACK:PORT or unix:///PATH) [env: KUBECRED_PROXY_URL] [default: http://127.0.0.1:8001]
    #[arg(long, value_name = "URL", global = true)]
    proxy_url: Option<String>,

    /// Read the env source's variables as PREFIX_HOST, PREFIX_TOKEN, ... instead of KUBE_*
    #[arg(long, value_name = "PREFIX", global = true, value_parser = parse_env_prefix)]
    env_prefix: Option<String>,

    /// Kill a kubeconfig user's exec credential plugin that runs longer than SECONDS (default 120; not covered by --timeout)
    #[arg(long, value_name = "SECONDS", global = true, value_parser = clap::value_parser!(u64).range(1..))]
    exec_timeout: Option<u64>,

    /// Keep exec plugins' credentials that carry an expiry for later runs, in DIR (created 0700) or, with no =DIR, in $XDG_CACHE_HOME/kubecred/exec [env: KUBECRED_EXEC_CACHE]
    #[arg(long, value_name = "DIR", global = true, num_args = 0..=1, require_equals = true)]
    exec_cache: Option<Option<PathBuf>>,

    /// Give up on a request after SECONDS (default 30; connecting at most 10); for `get`, on its answer's head (a watch's body may stream longer)
    #[arg(long, value_name = "SECONDS", global = true, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,

    /// End a streamed answer (`get` of a watch or a followed log) when nothing arrives for SECONDS (default: no limit, as in kubectl)
    #[arg(long, value_name = "SECONDS", global = true, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: Option<u64>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// GET PATH on the API server and print the body as it arrives (exit 0 on 2xx, at its end)
    Get {
        /// The path, with an optional query: /api, /api/v1/namespaces/default/pods?limit=1
        #[arg(value_parser = parse_path)]
        path: String,
    },
    /// Evaluate every source without sending a request, and report each outcome
    Explain {
        /// Report format
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

fn parse_path(path: &str) -> Result<String, String> {
    if path.starts_with('/') {
        Ok(path.to_owned())
    } else {
        Err("the path must start with '/' (for example /api)".to_owned())
    }
}

/// A prefix of environment variable names: letters, digits and `_`, not starting with a digit,
/// something left once a trailing `_` is dropped (`MYAPP` and `MYAPP_` both give `MYAPP_HOST`).
fn parse_env_prefix(prefix: &str) -> Result<String, String> {
    let name = prefix.trim_end_matches('_');
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(prefix.to_owned())
    } else {
        Err("the prefix must be a variable name such as KUBE or MYAPP (letters, digits and '_', not starting with a digit)".to_owned())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}

fn builder(cli: &Cli) -> ClientBuilder {
    let mut builder = ClientBuilder::new();
    if !cli.sources.is_empty() {
        builder = builder.sources(cli.sources.iter().copied());
    }
    if let Some(url) = &cli.proxy_url {
        builder = builder.proxy_url(url);
    }
    if let Some(prefix) = &cli.env_prefix {
        builder = builder.env_prefix(prefix);
    }
    if let Some(file) = &cli.kubeconfig {
        builder = builder.kubeconfig_from(file, "--kubeconfig");
    }
    if let Some(context) = &cli.context {
        builder = builder.context(context);
    }
    if let Some(seconds) = cli.exec_timeout {
        builder = builder.exec_timeout(Duration::from_secs(seconds));
    }
    match &cli.exec_cache {
        Some(None) => builder = builder.exec_cache_default_from("--exec-cache"),
        Some(Some(dir)) => {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
            builder = builder.exec_cache_from(dir, "--exec-cache");
        }
        None => {}
    }
    if let Some(dir) = &cli.serviceaccount_dir {
        builder = builder.serviceaccount_dir_from(dir, "--serviceaccount-dir");
    }
    if let Some(seconds) = cli.timeout {
        let timeout = Duration::from_secs(seconds);
        builder = builder
            .timeout(timeout)
            .connect_timeout(timeout.min(DEFAULT_CONNECT_TIMEOUT));
    }
    if let Some(seconds) = cli.idle_timeout {
        builder = builder.idle_timeout(Duration::from_secs(seconds));
    }
    builder
}

async fn run(cli: Cli) -> ExitCode {
    let builder = builder(&cli);
    match &cli.command {
        Command::Explain { output } => {
            let report = builder.explain().await;
            for warning in &report.warnings {
                tracing::warn!("{warning}");
            }
            let text = match output {
                Output::Text => report.to_string(),
                Output::Json => report.to_json() + "\n",
            };
            match std::io::stdout().write_all(text.as_bytes()) {
                // The reader has gone (`| head`): the exit code still says what it found.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("error: cannot write the report: {e}");
                    return ExitCode::FAILURE;
                }
                _ => {}
            }
            if report.chosen().is_some() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Get { path } => {
            let result = async {
                let client = builder.build().await?;
                client.get_streaming(path).await
            }
            .await;
            match result {
                Ok(response) => write_body(response.into_body()).await,
                Err(error) => fail(&error),
            }
        }
    }
}

/// Writes a streamed body to stdout as it arrives, flushed chunk by chunk (a watch's events
/// appear as the server sends them); exit 0 when the server ends it, or when stdout's reader
/// has gone (`kubecred get ... | head -1`: what it wanted was printed, as ripgrep does).
/// A body that fails after printing part of a line gets a newline on stderr before the error,
/// so that the error starts its own line.
async fn write_body(mut body: kubecred_client::Body) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    // Whether what was printed so far ends with a newline (nothing printed does).
    let mut at_line_start = true;
    loop {
        match body.next_chunk().await {
            Ok(Some(chunk)) => {
                match stdout.write_all(&chunk).and_then(|()| stdout.flush()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                        return ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("error: cannot write the response: {e}");
                        return ExitCode::FAILURE;
                    }
                }
                if let Some(&last) = chunk.last() {
                    at_line_start = last == b'\n';
                }
            }
            Ok(None) => return ExitCode::SUCCESS,
            Err(error) => {
                if !at_line_start {
                    eprintln!();
                }
                return fail(&error);
            }
        }
    }
}

/// Prints `error` as one paragraph on stderr, with a hint where one helps; exit 1.
fn fail(error: &kubecred_client::Error) -> ExitCode {
    use kubecred_client::{Error, TimeLimit};
    let hint = match error {
        _ if error.report().is_some() => "\n(run `kubecred explain` to see every source's outcome)",
        _ if error.status().map(|status| status.as_u16()) == Some(401) => {
            "\n(the API server refused the credentials; `kubecred explain` shows where they came from)"
        }
        Error::Timeout {
            limit: TimeLimit::Idle(_),
            ..
        } => "\n(--idle-timeout SECONDS sets the idle limit of a streamed answer; without it there is none)",
        Error::Timeout { .. } => {
            "\n(--timeout SECONDS sets the request limit, and the connect limit up to 10 s)"
        }
        _ => "",
    };
    eprintln!("error: {}{hint}", error_chain(error));
    ExitCode::FAILURE
}
