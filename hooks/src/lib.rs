//! skyport-hooks: init hooks as LocalStack runs them. An init directory (`/etc/localstack/init` in the
//! container, `--init-dir` natively) holds one directory per lifecycle stage (`boot.d`, `start.d`,
//! `ready.d`, `shutdown.d`); each holds `.sh` and `.py` scripts, also in subdirectories.
//!
//! - [`discover`]: finds every stage's scripts once at start, in LocalStack's order (a directory's own
//!   scripts by name, then its subdirectories by name, depth first), and records them as `UNKNOWN`
//!   in the shared [`InitStatus`] that `/_localstack/init` reports.
//! - [`Hooks::run`]: runs one stage's scripts one after the other: `.sh` with the interpreter its
//!   `#!` line names (else a POSIX `sh`), `.py` with `python3`, with the environment the caller gives
//!   (endpoint, test credentials, region) and `awslocal` on the `PATH`. A failing script is logged with
//!   its output and the next one still runs; Skyport keeps running.
//!
//! An interpreter that is not there (the default image is `FROM scratch`: no shell, no Python) is
//! reported once per script with the caller's hint (which image tag runs it), and the script is `ERROR`.

mod discover;
mod run;

pub use discover::{Script, discover};
pub use run::{HookOptions, Hooks, StageReport};
pub use skyport_core::init::{InitStatus, ScriptState, Stage};
