//! The state of the init hooks (LocalStack's `/etc/localstack/init/{boot,start,ready,shutdown}.d`): which
//! lifecycle stages completed and each discovered script's state, as `/_localstack/init` and
//! `/_localstack/init/<stage>` report them. The runner (the `skyport-hooks` crate) writes it, the
//! gateway's internal endpoints read it.

use std::sync::Mutex;

use serde_json::{Value, json};

/// A lifecycle stage, in the order Skyport goes through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Before Skyport starts anything (no service, no listener).
    Boot,
    /// The services are open; the gateway is about to accept requests.
    Start,
    /// The gateway serves requests; `Ready.` is printed once this stage's scripts ran.
    Ready,
    /// Shutdown began; the gateway still serves while these scripts run.
    Shutdown,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 4] = [Stage::Boot, Stage::Start, Stage::Ready, Stage::Shutdown];

    /// The name in LocalStack's JSON (`BOOT`, `START`, `READY`, `SHUTDOWN`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Boot => "BOOT",
            Stage::Start => "START",
            Stage::Ready => "READY",
            Stage::Shutdown => "SHUTDOWN",
        }
    }

    /// The directory of this stage's scripts under the init directory (`boot.d`, ...).
    pub fn dir_name(self) -> &'static str {
        match self {
            Stage::Boot => "boot.d",
            Stage::Start => "start.d",
            Stage::Ready => "ready.d",
            Stage::Shutdown => "shutdown.d",
        }
    }

    /// The stage for a name in any case (`ready`, `READY`); `None` for anything else.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A script's state, as LocalStack names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptState {
    /// Discovered, not run yet.
    Unknown,
    /// Running now.
    Running,
    /// Exited with status 0.
    Successful,
    /// Exited with another status, was killed, or could not be started.
    Error,
}

impl ScriptState {
    /// The name in LocalStack's JSON.
    pub fn name(self) -> &'static str {
        match self {
            ScriptState::Unknown => "UNKNOWN",
            ScriptState::Running => "RUNNING",
            ScriptState::Successful => "SUCCESSFUL",
            ScriptState::Error => "ERROR",
        }
    }
}

#[derive(Debug)]
struct Script {
    stage: Stage,
    name: String,
    state: ScriptState,
}

#[derive(Debug, Default)]
struct Inner {
    completed: [bool; 4],
    scripts: Vec<Script>,
}

/// Stage completion and script states, shared between the runner and the endpoints.
#[derive(Debug, Default)]
pub struct InitStatus {
    inner: Mutex<Inner>,
}

impl InitStatus {
    /// No stage completed, no script known.
    pub fn new() -> InitStatus {
        InitStatus::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a discovered script (state `UNKNOWN`); returns its index for [`InitStatus::set_state`].
    pub fn add_script(&self, stage: Stage, name: &str) -> usize {
        let mut inner = self.lock();
        inner.scripts.push(Script {
            stage,
            name: name.to_owned(),
            state: ScriptState::Unknown,
        });
        inner.scripts.len() - 1
    }

    /// Sets the state of the script [`InitStatus::add_script`] returned `index` for.
    pub fn set_state(&self, index: usize, state: ScriptState) {
        if let Some(script) = self.lock().scripts.get_mut(index) {
            script.state = state;
        }
    }

    /// Marks `stage` completed (all its scripts ran, whatever their outcome).
    pub fn complete(&self, stage: Stage) {
        self.lock().completed[stage.index()] = true;
    }

    /// True once `stage` completed.
    pub fn is_completed(&self, stage: Stage) -> bool {
        self.lock().completed[stage.index()]
    }

    /// The states of `stage`'s scripts, in run order.
    pub fn states(&self, stage: Stage) -> Vec<(String, ScriptState)> {
        self.lock()
            .scripts
            .iter()
            .filter(|s| s.stage == stage)
            .map(|s| (s.name.clone(), s.state))
            .collect()
    }

    fn script_json(script: &Script) -> Value {
        json!({"stage": script.stage.name(), "name": script.name, "state": script.state.name()})
    }

    /// `GET /_localstack/init`: `{"completed": {"BOOT": bool, ...}, "scripts": [{"stage", "name",
    /// "state"}, ...]}`.
    pub fn to_json(&self) -> Value {
        let inner = self.lock();
        let completed: serde_json::Map<String, Value> = Stage::ALL
            .iter()
            .map(|s| (s.name().to_owned(), inner.completed[s.index()].into()))
            .collect();
        let scripts: Vec<Value> = inner.scripts.iter().map(Self::script_json).collect();
        json!({"completed": completed, "scripts": scripts})
    }

    /// `GET /_localstack/init/<stage>`: `{"completed": bool, "scripts": [...]}` for that stage only.
    pub fn stage_json(&self, stage: Stage) -> Value {
        let inner = self.lock();
        let scripts: Vec<Value> = inner
            .scripts
            .iter()
            .filter(|s| s.stage == stage)
            .map(Self::script_json)
            .collect();
        json!({"completed": inner.completed[stage.index()], "scripts": scripts})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_stages_and_scripts_in_localstacks_shape() {
        let status = InitStatus::new();
        let a = status.add_script(Stage::Ready, "01-seed.sh");
        status.add_script(Stage::Shutdown, "bye.py");
        status.complete(Stage::Boot);
        status.set_state(a, ScriptState::Successful);
        assert_eq!(
            status.to_json(),
            json!({
                "completed": {"BOOT": true, "START": false, "READY": false, "SHUTDOWN": false},
                "scripts": [
                    {"stage": "READY", "name": "01-seed.sh", "state": "SUCCESSFUL"},
                    {"stage": "SHUTDOWN", "name": "bye.py", "state": "UNKNOWN"},
                ]
            })
        );
        assert_eq!(
            status.stage_json(Stage::Shutdown),
            json!({"completed": false, "scripts": [{"stage": "SHUTDOWN", "name": "bye.py", "state": "UNKNOWN"}]})
        );
        assert_eq!(Stage::parse("ready"), Some(Stage::Ready));
        assert_eq!(Stage::parse("nope"), None);
    }
}
