//! The end-to-end harness: starts the real `skyport` binary on random free ports with its own state
//! directory, discovers the bound addresses from its log, and stops it on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running Skyport.
pub struct Skyport {
    child: Child,
    /// Bound gateway addresses, in `GATEWAY_LISTEN` order.
    pub addrs: Vec<SocketAddr>,
    /// Bound DNS addresses (UDP and TCP each), from the `DNS listening on` lines; empty when off.
    pub dns_addrs: Vec<SocketAddr>,
    /// The state directory.
    pub state_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    /// Every stdout line so far.
    pub output: Arc<Mutex<Vec<String>>>,
}

/// How to start Skyport.
#[derive(Default, Clone)]
pub struct Options {
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// A state directory to reuse (for restart tests).
    pub state_dir: Option<PathBuf>,
    /// `GATEWAY_LISTEN` (default `127.0.0.1:0,[::1]:0`).
    pub listen: Option<String>,
}

impl Options {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
    pub fn state_dir(mut self, dir: &Path) -> Self {
        self.state_dir = Some(dir.to_owned());
        self
    }
    pub fn listen(mut self, listen: &str) -> Self {
        self.listen = Some(listen.to_owned());
        self
    }
    /// Turns the DNS server on: `DNS_ADDRESS=127.0.0.1`, `DNS_PORT=0` (a free port; see `dns_addrs`).
    pub fn dns(self) -> Self {
        self.env("DNS_ADDRESS", "127.0.0.1").env("DNS_PORT", "0")
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_skyport")
}

/// A command running the skyport binary with a clean Skyport-related environment.
pub fn command() -> Command {
    let mut cmd = Command::new(binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("DNS_")
            || key.starts_with("SKYPORT_DNS_")
            || key == "GATEWAY_LISTEN"
            || key == "LOCALSTACK_HOST"
            || key == "PERSISTENCE"
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

impl Skyport {
    pub fn start() -> Skyport {
        Skyport::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Skyport {
        let (temp, state_dir) = match &options.state_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let t = tempfile::tempdir().expect("tempdir");
                let p = t.path().to_owned();
                (Some(t), p)
            }
        };
        let mut cmd = command();
        cmd.arg("start")
            .env(
                "GATEWAY_LISTEN",
                options.listen.as_deref().unwrap_or("127.0.0.1:0,[::1]:0"),
            )
            .env("SKYPORT_STATE_DIR", &state_dir)
            .env("DNS_ADDRESS", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn skyport");
        let stdout = child.stdout.take().expect("stdout");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    output.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut addrs = Vec::new();
        let mut dns_addrs = Vec::new();
        let (mut ready, mut started) = (false, false);
        while !(ready && started) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "skyport did not become ready; output: {:?}",
                    output.lock().unwrap()
                )
            });
            if line.trim() == "Ready." {
                ready = true;
            }
            if line.contains("started in") {
                started = true;
            }
            if let Some(rest) = line.split("Listening on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or("");
                addrs.push(addr.parse().expect("listen address"));
            }
            if let Some(rest) = line.split("DNS listening on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or("");
                dns_addrs.push(addr.parse().expect("DNS listen address"));
            }
        }
        Skyport {
            child,
            addrs,
            dns_addrs,
            state_dir,
            _temp: temp,
            output,
        }
    }

    /// `http://127.0.0.1:<port>` (the first IPv4 listener).
    pub fn endpoint(&self) -> String {
        let addr = self
            .addrs
            .iter()
            .find(|a| a.is_ipv4())
            .expect("an IPv4 listener");
        format!("http://{addr}")
    }

    /// The first IPv6 listener, if any.
    pub fn v6_endpoint(&self) -> Option<String> {
        self.addrs
            .iter()
            .find(|a| a.is_ipv6())
            .map(|a| format!("http://{a}"))
    }

    pub fn port(&self) -> u16 {
        self.addrs[0].port()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`INT`, `TERM`, `KILL`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "skyport did not exit in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until a log line containing `needle` appears (log lines are flushed in batches every ~20 ms).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self
                .output
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The output so far, joined.
    pub fn log(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }
}

impl Drop for Skyport {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command, returning (status, stdout, stderr).
pub fn run(cmd: &mut Command) -> (ExitStatus, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// True when `program` can be run.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Fails (in CI, where `SKYPORT_REQUIRE_TOOLS=1`) or skips when a client tool is missing.
pub fn require(program: &str) -> bool {
    if have(program) {
        return true;
    }
    if std::env::var("SKYPORT_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("{program} is required for this test (installed by .ci/run)");
    }
    eprintln!("skipping: {program} is not installed");
    false
}
