//! Starting the servers and clients under test, and what their replies
//! must be.
//!
//! Both servers print `chat-server listening on ADDR` on stdout once they
//! serve (they bind port 0, so tests never race for ports) and one line per
//! generation on stderr (`StreamingChat: generation cancelled after 3
//! tokens`); [`Server`] turns those lines into events the tests wait for.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ferry_chat::aihub::ChatRequest;
use ferry_chat::aihub::chat_hub_client::ChatHubClient;
use ferry_chat::{DEFAULT_CORPUS, Model};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// Bound for anything that only has to happen eventually (a process
/// starting, a line arriving): generous, since other builds share the
/// machine. No test asserts that something is fast.
pub(crate) const LIVENESS: Duration = Duration::from_secs(60);

/// The seed every test server runs with.
pub(crate) const SEED: u64 = 7;

fn example_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python with grpcio and grpcio-tools (see [`ferry_testkit::python`]).
/// Blocks while the venv is made, so call it before starting any timeout.
pub(crate) fn python() -> &'static Path {
    ferry_testkit::python("grpcio and grpcio-tools")
}

/// What a test server is trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Corpus {
    /// The example's own text, built into `chat-server`.
    Default,
    /// One paragraph that repeats a sentence: the paragraph's end follows
    /// its last words once in 50 times, so sampling (top_p below 1 keeps
    /// only the heaviest successors) never ends a reply early and every
    /// reply runs to `max_length`. The streaming tests need replies that
    /// are surely long.
    Endless,
}

impl Corpus {
    fn text(self) -> String {
        match self {
            Corpus::Default => DEFAULT_CORPUS.to_owned(),
            Corpus::Endless => "Row the boat across the river and back again, ".repeat(50),
        }
    }

    /// A file holding the text, for `--corpus`.
    fn path(self) -> Option<&'static Path> {
        static ENDLESS: OnceLock<PathBuf> = OnceLock::new();
        match self {
            Corpus::Default => None,
            Corpus::Endless => Some(ENDLESS.get_or_init(|| {
                // Written under a name of its own, then moved into place:
                // test processes running at once never read half a file.
                let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
                let path = dir.join("chat-endless.txt");
                let scratch = dir.join(format!("chat-endless.txt.{}", std::process::id()));
                std::fs::write(&scratch, Corpus::Endless.text()).expect("write the test corpus");
                std::fs::rename(&scratch, &path).expect("move the test corpus into place");
                path
            })),
        }
    }
}

/// Which implementation a server or client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// `chat-server` / `chat-client`.
    Rust,
    /// `python/chat_server.py` / `python/chat_client.py` (grpcio).
    Python,
}

/// A running server. Dropping it kills the process.
pub(crate) struct Server {
    pub(crate) peer: Peer,
    pub(crate) addr: String,
    child: Child,
    events: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts a server with `--seed 7` on a free port, trained on `corpus`,
    /// with a delay of `token_delay_ms` before each token, and waits until
    /// it serves.
    pub(crate) async fn start(peer: Peer, corpus: Corpus, token_delay_ms: u64) -> Server {
        let mut command = match peer {
            Peer::Rust => Command::new(env!("CARGO_BIN_EXE_chat-server")),
            Peer::Python => {
                let mut c = Command::new(python());
                c.arg("-u").arg(example_dir().join("python/chat_server.py"));
                c
            }
        };
        command
            .args(["--addr", "127.0.0.1:0", "--seed", &SEED.to_string()])
            .args(["--token-delay-ms", &token_delay_ms.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(path) = corpus.path() {
            command.arg("--corpus").arg(path);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not start the {peer:?} server: {e}"));

        let (tx, events) = mpsc::unbounded_channel();
        let stderr = Arc::new(Mutex::new(String::new()));
        let log = Arc::clone(&stderr);
        let mut err_lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                if let Ok(mut log) = log.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
                let _ = tx.send(line);
            }
        });

        let mut out_lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut server = Server {
            peer,
            addr: String::new(),
            child,
            events,
            stderr,
        };
        let first = timeout(LIVENESS, out_lines.next_line()).await;
        let line = match first {
            Ok(Ok(Some(line))) => line,
            other => panic!(
                "the {peer:?} server did not say where it listens: {other:?}{}",
                server.log()
            ),
        };
        server.addr = line
            .strip_prefix("chat-server listening on ")
            .unwrap_or_else(|| panic!("the {peer:?} server said {line:?}{}", server.log()))
            .to_owned();
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = out_lines.next_line().await {} });
        server
    }

    /// `http://ADDR`, for Ferry's client.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A Ferry client connected to this server.
    pub(crate) async fn client(&self) -> ChatHubClient {
        timeout(LIVENESS, ChatHubClient::connect(&self.url()))
            .await
            .expect("connecting in time")
            .unwrap_or_else(|e| panic!("connect to the {:?} server: {e}{}", self.peer, self.log()))
    }

    /// The next line the server writes on stderr.
    pub(crate) async fn event(&mut self) -> String {
        match timeout(LIVENESS, self.events.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the {:?} server closed stderr{}", self.peer, self.log()),
            Err(_) => panic!(
                "the {:?} server wrote nothing on stderr for {LIVENESS:?}{}",
                self.peer,
                self.log()
            ),
        }
    }

    /// Sends SIGINT (Ctrl-C) to the server.
    pub(crate) fn interrupt(&self) {
        let pid = self.child.id().expect("the server is running");
        let status = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT {pid}: {status}");
    }

    /// Waits for the server to exit.
    pub(crate) async fn exit(&mut self) -> ExitStatus {
        match timeout(LIVENESS, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => panic!("waiting for the {:?} server: {e}", self.peer),
            Err(_) => panic!(
                "the {:?} server still runs after {LIVENESS:?}{}",
                self.peer,
                self.log()
            ),
        }
    }

    /// What the server wrote on stderr so far, to end a failure message.
    pub(crate) fn log(&self) -> String {
        let text = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        format!("\n--- {:?} server stderr ---\n{text}", self.peer)
    }
}

/// What a client process printed and how it ended.
#[derive(Debug)]
pub(crate) struct ClientRun {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs a command-line client against `server` with `args` (flags, then
/// the prompt) and waits for it to exit.
pub(crate) async fn run_client(peer: Peer, server: &Server, args: &[String]) -> ClientRun {
    let mut command = match peer {
        Peer::Rust => Command::new(env!("CARGO_BIN_EXE_chat-client")),
        Peer::Python => {
            let mut c = Command::new(python());
            c.arg("-u").arg(example_dir().join("python/chat_client.py"));
            c
        }
    };
    command
        .args(["--addr", &server.addr])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = timeout(LIVENESS, command.output())
        .await
        .unwrap_or_else(|_| panic!("the {peer:?} client still runs after {LIVENESS:?}"))
        .unwrap_or_else(|e| panic!("could not run the {peer:?} client: {e}"));
    ClientRun {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A request's fields as command-line flags for either client, prompt
/// last.
pub(crate) fn client_args(request: &ChatRequest, stream: bool) -> Vec<String> {
    let mut args = Vec::new();
    for turn in &request.history {
        args.push(format!("--history={turn}"));
    }
    if request.max_length != 0 {
        args.push(format!("--max-length={}", request.max_length));
    }
    if request.temperature != 0.0 {
        args.push(format!("--temperature={}", request.temperature));
    }
    if request.top_p != 0.0 {
        args.push(format!("--top-p={}", request.top_p));
    }
    if stream {
        args.push("--stream".to_owned());
    }
    args.push("--".to_owned());
    args.push(request.prompt.clone());
    args
}

/// The reply a server trained on `corpus` and started with `--seed 7` must
/// give to `request`, computed here with the library's own model: the Rust
/// server must match it, and so must the Python server, whose model is a
/// port.
pub(crate) fn expected_pieces(corpus: Corpus, request: &ChatRequest) -> Vec<String> {
    static MODELS: OnceLock<[Arc<Model>; 2]> = OnceLock::new();
    let models = MODELS.get_or_init(|| {
        [Corpus::Default, Corpus::Endless]
            .map(|c| Arc::new(Model::train(&c.text()).expect("the corpus trains")))
    });
    let model = &models[corpus as usize];
    let sampling = ferry_chat::params::sampling(request).expect("a valid request");
    model
        .generate(&request.history, &request.prompt, sampling, SEED)
        .collect()
}

/// Awaits `future`, failing the test if it takes longer than [`LIVENESS`]:
/// every call a test makes goes through here, so no test can hang.
pub(crate) async fn bounded<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    timeout(LIVENESS, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not complete in {LIVENESS:?}"))
}
