//! Running one stage's scripts: the interpreter for each, the environment, output to the log, and the
//! state transitions `UNKNOWN` → `RUNNING` → `SUCCESSFUL` | `ERROR`.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use skyport_core::init::{InitStatus, ScriptState, Stage};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::discover::{Script, discover};

/// How many of a failing script's last output lines its error message repeats.
const TAIL_LINES: usize = 20;

/// How hooks run.
#[derive(Clone, Debug, Default)]
pub struct HookOptions {
    /// The init directory; `None` runs no scripts (every stage still completes).
    pub init_dir: Option<PathBuf>,
    /// Variables set for every script (`AWS_ENDPOINT_URL`, credentials, region).
    pub env: Vec<(String, String)>,
    /// An executable that acts as `awslocal` when called by that name; linked into a directory put
    /// first on the scripts' `PATH`.
    pub awslocal: Option<PathBuf>,
    /// Appended to the message about a missing interpreter: where one is (e.g. which image tag).
    pub missing_interpreter_hint: String,
}

/// What running a stage did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageReport {
    /// Scripts run (or tried).
    pub scripts: usize,
    /// Of those, the ones that ended in `ERROR`.
    pub failed: usize,
}

/// Why a script could not be started.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("it needs {needs}, which is not installed here{hint}")]
    NoInterpreter { needs: String, hint: String },
    #[error("cannot read it: {0}")]
    Read(std::io::Error),
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
}

/// The discovered scripts and how to run them.
#[derive(Debug)]
pub struct Hooks {
    status: Arc<InitStatus>,
    scripts: Vec<(usize, Script)>,
    options: HookOptions,
    path: Option<OsString>,
    // Holds the `awslocal` link while scripts may run.
    _bin: Option<tempfile::TempDir>,
}

impl Hooks {
    /// Discovers every stage's scripts under `options.init_dir` and records them in `status`.
    pub fn new(options: HookOptions, status: Arc<InitStatus>) -> Hooks {
        let found = options
            .init_dir
            .as_deref()
            .map(discover)
            .unwrap_or_default();
        let scripts: Vec<(usize, Script)> = found
            .into_iter()
            .map(|s| (status.add_script(s.stage, &s.name), s))
            .collect();
        if !scripts.is_empty() {
            tracing::info!(
                "init hooks: {} script(s) in {}",
                scripts.len(),
                options
                    .init_dir
                    .as_deref()
                    .map(Path::display)
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            );
        }
        // Only when there is something to run: a directory with the `awslocal` link first on PATH.
        let mut bin = None;
        let mut path = std::env::var_os("PATH");
        if let (false, Some(target)) = (scripts.is_empty(), options.awslocal.as_deref()) {
            match link_awslocal(target) {
                Ok(dir) => {
                    let mut dirs = vec![dir.path().to_path_buf()];
                    dirs.extend(
                        path.as_deref()
                            .map(std::env::split_paths)
                            .into_iter()
                            .flatten(),
                    );
                    path = std::env::join_paths(dirs).ok().or(path);
                    bin = Some(dir);
                }
                Err(e) => tracing::warn!("init hooks: cannot provide awslocal: {e}"),
            }
        }
        let hooks = Hooks {
            status,
            scripts,
            options,
            path,
            _bin: bin,
        };
        // Say at start which scripts cannot run here, not only when their stage comes.
        for (_, script) in &hooks.scripts {
            if let Err(e) = hooks.command_for(script) {
                tracing::error!(
                    "init hook {} ({}) cannot run: {e}",
                    script.path.display(),
                    script.stage.name()
                );
            }
        }
        hooks
    }

    /// Sets (or replaces) a variable for the scripts of later stages, e.g. `AWS_ENDPOINT_URL` once the
    /// gateway's port is known.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.options.env.retain(|(k, _)| k != key);
        self.options.env.push((key.to_owned(), value.to_owned()));
    }

    /// The status these hooks report into.
    pub fn status(&self) -> &Arc<InitStatus> {
        &self.status
    }

    /// Runs `stage`'s scripts in order, then marks the stage completed.
    pub async fn run(&self, stage: Stage) -> StageReport {
        let mut report = StageReport::default();
        let started = Instant::now();
        for (index, script) in self.scripts.iter().filter(|(_, s)| s.stage == stage) {
            report.scripts += 1;
            self.status.set_state(*index, ScriptState::Running);
            let ok = self.run_script(script).await;
            if !ok {
                report.failed += 1;
            }
            let state = if ok {
                ScriptState::Successful
            } else {
                ScriptState::Error
            };
            self.status.set_state(*index, state);
        }
        self.status.complete(stage);
        if report.scripts > 0 {
            tracing::info!(
                "init hooks: {} stage ran {} script(s), {} failed, in {:.0} ms",
                stage.name(),
                report.scripts,
                report.failed,
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        report
    }

    async fn run_script(&self, script: &Script) -> bool {
        let shown = script.path.display();
        let (program, args) = match self.command_for(script) {
            Ok(command) => command,
            Err(e) => {
                tracing::error!("init hook {shown} ({}) not run: {e}", script.stage.name());
                return false;
            }
        };
        let mut command = tokio::process::Command::new(&program);
        command
            .args(&args)
            .arg(&script.path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in &self.options.env {
            command.env(key, value);
        }
        if let Some(path) = &self.path {
            command.env("PATH", path);
        }
        tracing::info!("init hook {shown} ({}) running", script.stage.name());
        let started = Instant::now();
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(source) => {
                let e = StartError::Spawn {
                    program: program.display().to_string(),
                    source,
                };
                tracing::error!("init hook {shown} ({}) not run: {e}", script.stage.name());
                return false;
            }
        };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (mut out_tail, err_tail) = tokio::join!(
            log_lines(&script.name, stdout),
            log_lines(&script.name, stderr)
        );
        let status = child.wait().await;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        match status {
            Ok(status) if status.success() => {
                tracing::info!("init hook {shown} succeeded in {elapsed:.0} ms");
                true
            }
            result => {
                let how = match result {
                    Ok(status) => status.to_string(),
                    Err(e) => format!("could not be waited for: {e}"),
                };
                out_tail.extend(err_tail);
                let output: Vec<String> = out_tail.into_iter().collect();
                tracing::error!(
                    "init hook {shown} ({}) failed ({how}) after {elapsed:.0} ms; Skyport keeps running. \
                     Its last output:\n{}",
                    script.stage.name(),
                    if output.is_empty() {
                        "(none)".to_owned()
                    } else {
                        output.join("\n")
                    }
                );
                false
            }
        }
    }

    /// The interpreter and its arguments for `script` (the script path comes last).
    fn command_for(&self, script: &Script) -> Result<(PathBuf, Vec<String>), StartError> {
        let hint = |needs: String| StartError::NoInterpreter {
            needs,
            hint: self.options.missing_interpreter_hint.clone(),
        };
        let is_python = script.path.extension().is_some_and(|e| e == "py");
        if is_python {
            return self
                .find("python3")
                .map(|p| (p, Vec::new()))
                .ok_or_else(|| hint("Python (python3)".to_owned()));
        }
        // A shell script: the interpreter its `#!` line names, else a POSIX sh. The script need not be
        // executable (a file mounted from the host often is not).
        let head = read_head(&script.path).map_err(StartError::Read)?;
        if let Some((interpreter, arg)) = shebang(&head) {
            let interpreter_path = PathBuf::from(&interpreter);
            if interpreter_path.is_file() {
                // `#!/usr/bin/env bash`: env itself is there; the program must be on PATH too.
                let env_target = interpreter
                    .ends_with("/env")
                    .then_some(arg.as_deref())
                    .flatten();
                if let Some(program) = env_target
                    && self.find(program).is_none()
                {
                    return Err(hint(format!("{program} (its #! line)")));
                }
                return Ok((interpreter_path, arg.into_iter().collect()));
            }
            // `#!/bin/bash` where there is only /bin/sh: say so rather than guess.
            if self.find("sh").is_some() {
                return Err(hint(format!("{interpreter} (its #! line)")));
            }
        }
        self.find("sh")
            .map(|p| (p, Vec::new()))
            .ok_or_else(|| hint("a POSIX shell (/bin/sh)".to_owned()))
    }

    /// `program` on the scripts' PATH.
    fn find(&self, program: &str) -> Option<PathBuf> {
        let path = self.path.clone().or_else(|| std::env::var_os("PATH"))?;
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    }
}

fn link_awslocal(target: &Path) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("skyport-hooks-")
        .tempdir()?;
    std::os::unix::fs::symlink(target, dir.path().join("awslocal"))?;
    Ok(dir)
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(256);
    std::fs::File::open(path)?
        .take(256)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// The interpreter and optional single argument of a `#!` line.
fn shebang(head: &[u8]) -> Option<(String, Option<String>)> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|b| *b == b'\n').next()?;
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim().splitn(2, char::is_whitespace);
    let interpreter = parts.next().filter(|s| !s.is_empty())?.to_owned();
    let arg = parts
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Some((interpreter, arg))
}

/// Logs each line of `stream` under the script's name; returns the last lines.
async fn log_lines(name: &str, stream: Option<impl AsyncRead + Unpin>) -> VecDeque<String> {
    let mut tail = VecDeque::new();
    let Some(stream) = stream else {
        return tail;
    };
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!("init hook {name}: {line}");
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn parses_shebang_lines() {
        assert_eq!(shebang(b"#!/bin/sh\necho"), Some(("/bin/sh".into(), None)));
        assert_eq!(
            shebang(b"#! /usr/bin/env  bash \n"),
            Some(("/usr/bin/env".into(), Some("bash".into())))
        );
        assert_eq!(shebang(b"echo hi"), None);
    }

    #[tokio::test]
    async fn runs_scripts_in_order_with_the_environment_and_survives_a_failure() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out.txt");
        let ready = root.path().join("ready.d");
        write(
            &ready.join("01-first.sh"),
            &format!("echo \"first $SEEN_VAR\" >> {}\n", out.display()),
        );
        write(
            &ready.join("02-fails.sh"),
            "#!/bin/sh\necho broken >&2\nexit 3\n",
        );
        write(
            &ready.join("03-last.sh"),
            &format!("echo last >> {}\n", out.display()),
        );
        let status = Arc::new(InitStatus::new());
        let hooks = Hooks::new(
            HookOptions {
                init_dir: Some(root.path().to_path_buf()),
                env: vec![("SEEN_VAR".into(), "yes".into())],
                ..HookOptions::default()
            },
            status.clone(),
        );
        assert_eq!(hooks.run(Stage::Boot).await, StageReport::default());
        assert!(status.is_completed(Stage::Boot));
        assert!(!status.is_completed(Stage::Ready));
        let report = hooks.run(Stage::Ready).await;
        assert_eq!(
            report,
            StageReport {
                scripts: 3,
                failed: 1
            }
        );
        assert!(status.is_completed(Stage::Ready));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "first yes\nlast\n");
        let states: Vec<&str> = status
            .states(Stage::Ready)
            .iter()
            .map(|(_, s)| s.name())
            .collect();
        assert_eq!(states, ["SUCCESSFUL", "ERROR", "SUCCESSFUL"]);
    }

    #[tokio::test]
    async fn a_missing_interpreter_is_an_error_with_the_hint() {
        let root = tempfile::tempdir().unwrap();
        write(
            &root.path().join("start.d/x.sh"),
            "#!/no/such/shell\necho\n",
        );
        let status = Arc::new(InitStatus::new());
        let hooks = Hooks::new(
            HookOptions {
                init_dir: Some(root.path().to_path_buf()),
                missing_interpreter_hint: "; use the -tools image".into(),
                ..HookOptions::default()
            },
            status.clone(),
        );
        let script = &hooks.scripts[0].1;
        let e = hooks.command_for(script).unwrap_err().to_string();
        assert_eq!(
            e,
            "it needs /no/such/shell (its #! line), which is not installed here; use the -tools image"
        );
        assert_eq!(hooks.run(Stage::Start).await.failed, 1);
    }
}
