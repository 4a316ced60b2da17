//! `kubecred get` of a watch: each event printed as the server sends it, the stream outliving
//! `--timeout` (which bounds the head), `--idle-timeout` ending a silent one.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::*;

/// The watch of the pods of the pod's namespace.
const WATCH: &str = "/api/v1/namespaces/team-a/pods?watch=true";

/// How long a test waits for the next line or the exit before it fails: a bound on a failing
/// test, never a measure (events arrive in milliseconds).
const WAIT: Duration = Duration::from_secs(20);

/// A running `kubecred get`, its stdout read line by line as the binary writes it.
struct Streaming {
    child: Child,
    lines: mpsc::Receiver<String>,
    args: Vec<String>,
}

impl Streaming {
    /// Starts `kubecred ARGS` with exactly `env` (and the proxy pinned to a closed port).
    fn start(args: &[&str], env: &[(String, String)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubecred"))
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(
                "KUBECRED_PROXY_URL",
                format!("http://127.0.0.1:{}", closed_port()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the kubecred binary runs");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// The next line the binary printed; fails the test after [`WAIT`] without one.
    #[track_caller]
    fn line(&self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("no line from kubecred within the wait ({e})"))
    }

    /// The next event printed, as `TYPE name`.
    #[track_caller]
    fn event(&self) -> String {
        let line = self.line();
        let event: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON event per line ({e}): {line}"));
        format!(
            "{} {}",
            event["type"].as_str().unwrap(),
            event["object"]["metadata"]["name"].as_str().unwrap()
        )
    }

    /// Waits (at most [`WAIT`]) for the exit: the run, with the lines not read yet as its
    /// stdout; the no-secret check applied to it.
    fn finish(mut self) -> Run {
        let mut stderr = self.child.stderr.take().unwrap();
        let pid = self.child.id();
        let mut child = self.child;
        let (send, exited) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            stderr.read_to_string(&mut text).unwrap();
            let _ = send.send((child.wait().unwrap().code(), text));
        });
        let (code, stderr) = exited
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("kubecred (pid {pid}) did not exit within the wait ({e})"));
        let stdout: Vec<String> = self.lines.iter().collect();
        let run = Run {
            args: self.args,
            code: code.unwrap_or(-1),
            stdout: stdout.join("\n"),
            stderr,
        };
        assert_no_secret(&run);
        run
    }
}

#[test]
fn get_of_a_watch_prints_each_event_as_the_server_sends_it_and_exits_0_at_its_end() {
    let pod = Pod::new();
    let watch = Streaming::start(&["get", WATCH], &pod.env);
    // The current pod, printed while the server holds the stream open.
    assert_eq!(watch.event(), "ADDED stand-in");
    // The second event is pushed only now, after the first line was read.
    pod.server.add_pod("team-a", "web", &[("app", "web")]);
    assert_eq!(watch.event(), "ADDED web");
    pod.server.set_pod_phase("team-a", "web", "Succeeded");
    assert_eq!(watch.event(), "MODIFIED web");
    pod.server.end_watches();
    let run = watch.finish();
    run.assert_code(0);
    assert_eq!(run.stdout, "", "nothing after the events: {run:#?}");
    assert_eq!(run.stderr, "", "{run:#?}");
    let requests = pod.server.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].path, WATCH);
}

#[test]
fn a_watch_outlives_a_shorter_timeout() {
    let pod = Pod::new();
    let watch = Streaming::start(&["get", WATCH, "--timeout", "1"], &pod.env);
    assert_eq!(watch.event(), "ADDED stand-in");
    // Events paced over 3 s, three times `--timeout`, which bounds the head only.
    for n in 1..=3 {
        std::thread::sleep(Duration::from_secs(1));
        pod.server
            .label_pod("team-a", "stand-in", "n", &n.to_string())
            .unwrap();
        assert_eq!(watch.event(), "MODIFIED stand-in", "event {n}");
    }
    pod.server.end_watches();
    let run = watch.finish();
    run.assert_code(0);
    assert_eq!(run.stderr, "", "{run:#?}");
}

#[test]
fn idle_timeout_ends_a_silent_watch_with_a_message_naming_it() {
    let pod = Pod::new();
    let watch = Streaming::start(&["get", WATCH, "--idle-timeout", "1"], &pod.env);
    assert_eq!(watch.event(), "ADDED stand-in");
    // Then the server says nothing: the idle limit ends the run.
    let run = watch.finish();
    run.assert_code(1);
    assert_eq!(run.stdout, "", "{run:#?}");
    for fragment in [
        "error: in-cluster: request to https://",
        WATCH,
        "timed out: nothing received for the idle limit of 1 s (ClientBuilder::idle_timeout changes it)",
        "(--idle-timeout SECONDS sets the idle limit of a streamed answer; without it there is none)",
    ] {
        assert!(
            run.stderr.contains(fragment),
            "stderr lacks {fragment:?}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn the_largest_idle_timeout_and_timeout_are_no_limits_not_a_panic() {
    let pod = Pod::new();
    let max = u64::MAX.to_string();
    let watch = Streaming::start(
        &["get", WATCH, "--idle-timeout", &max, "--timeout", &max],
        &pod.env,
    );
    assert_eq!(watch.event(), "ADDED stand-in");
    // A second chunk: the idle timer restarts, from now, by the largest limit.
    pod.server
        .label_pod("team-a", "stand-in", "n", "1")
        .unwrap();
    assert_eq!(watch.event(), "MODIFIED stand-in");
    pod.server.end_watches();
    let run = watch.finish();
    run.assert_code(0);
    assert_eq!(run.stderr, "", "{run:#?}");
}

#[test]
fn a_reader_that_goes_away_ends_a_watch_quietly_with_0() {
    let pod = Pod::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubecred"))
        .args(["get", WATCH])
        .env_clear()
        .envs(pod.env.iter().map(|(k, v)| (k, v)))
        .env(
            "KUBECRED_PROXY_URL",
            format!("http://127.0.0.1:{}", closed_port()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the kubecred binary runs");
    // Like `| head -c1`: read the first bytes, then close the pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0; 1];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"{");
    drop(stdout);
    // The next event is written into the closed pipe.
    pod.server
        .label_pod("team-a", "stand-in", "n", "1")
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (send, exited) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        let _ = send.send((child.wait().unwrap().code(), text));
    });
    let (code, stderr) = exited
        .recv_timeout(WAIT)
        .expect("kubecred exits once its reader has gone");
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
}

#[test]
fn a_stdout_closed_from_the_start_is_a_quiet_exit_with_the_run_s_code() {
    let pod = Pod::new();
    for args in [&["get", "/api"][..], &["explain"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubecred"))
            .args(args)
            .env_clear()
            .envs(pod.env.iter().map(|(k, v)| (k, v)))
            .env(
                "KUBECRED_PROXY_URL",
                format!("http://127.0.0.1:{}", closed_port()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the kubecred binary runs");
        // Closed before kubecred has built its client, so before it writes anything.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!((output.status.code(), &*stderr), (Some(0), ""), "{args:?}");
    }
}

/// A plain-HTTP server on loopback that answers one request with a `200` whose body is
/// `sent`, then closes the connection short of the 4096 bytes it announced.
fn cut_short(sent: &'static [u8]) -> (String, std::thread::JoinHandle<()>) {
    use std::io::Write as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
            if stream.read(&mut byte).unwrap() == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let answer =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n";
        stream.write_all(answer).unwrap();
        stream.write_all(sent).unwrap();
        stream.flush().unwrap();
    });
    (url, server)
}

#[test]
fn a_body_cut_mid_line_puts_the_error_on_a_line_of_its_own() {
    for (sent, stderr_start) in [
        (&b"{\"kind\": \"APIVer"[..], "\nerror: "),
        (&b"{\"kind\": \"APIVersions\"}\n"[..], "error: "),
    ] {
        let (url, server) = cut_short(sent);
        let run = kubecred(&["get", "/api"], &[var("KUBE_HOST", &url)]);
        server.join().unwrap();
        run.assert_code(1);
        assert_eq!(run.stdout.as_bytes(), sent, "{run:#?}");
        assert!(
            run.stderr.starts_with(stderr_start) && run.stderr.contains("/api"),
            "{run:#?}"
        );
    }
}

#[test]
fn idle_timeout_must_be_a_positive_number_of_seconds() {
    for value in ["0", "-1", "1.5", "soon"] {
        let run = kubecred(&["get", "/api", &format!("--idle-timeout={value}")], &[]);
        run.assert_code(2);
        assert!(run.stderr.contains("--idle-timeout"), "{run:#?}");
    }
}
