//! Finding the scripts of each stage: `<init dir>/<stage>.d/**/*.{sh,py}`, in LocalStack's order.

use std::path::{Path, PathBuf};

use skyport_core::init::Stage;

/// A discovered script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// Its stage.
    pub stage: Stage,
    /// Its path.
    pub path: PathBuf,
    /// Its file name (what `/_localstack/init` reports).
    pub name: String,
}

/// Kinds of script Skyport runs, by extension.
pub(crate) fn is_script(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("sh" | "py"))
}

/// Every stage's scripts under `root`, in run order. A missing root or stage directory has none; an
/// unreadable directory is logged and skipped.
pub fn discover(root: &Path) -> Vec<Script> {
    let mut scripts = Vec::new();
    for stage in Stage::ALL {
        walk(stage, &root.join(stage.dir_name()), &mut scripts);
    }
    scripts
}

fn walk(stage: Stage, dir: &Path, out: &mut Vec<Script>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!(
                "init hooks: cannot read {}: {e}; its scripts do not run",
                dir.display()
            );
            return;
        }
    };
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        // Follow symlinks (a mounted file may be one).
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => dirs.push(path),
            Ok(meta) if meta.is_file() && is_script(&path) => files.push(path),
            Ok(_) => {}
            Err(e) => tracing::warn!("init hooks: cannot read {}: {e}", path.display()),
        }
    }
    files.sort();
    dirs.sort();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Script { stage, path, name });
    }
    for sub in dirs {
        walk(stage, &sub, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_scripts_by_name_then_subdirectories_depth_first() {
        let root = tempfile::tempdir().unwrap();
        let ready = root.path().join("ready.d");
        for path in [
            "b.sh",
            "a.py",
            "notes.txt",
            "sub2/z.sh",
            "sub1/c.sh",
            "sub1/deeper/d.py",
            "sub1/b.sh",
        ] {
            let path = ready.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "").unwrap();
        }
        std::fs::create_dir_all(root.path().join("boot.d")).unwrap();
        std::fs::write(root.path().join("boot.d/x.sh"), "").unwrap();
        let found: Vec<(Stage, String)> = discover(root.path())
            .into_iter()
            .map(|s| {
                let rel = s
                    .path
                    .strip_prefix(root.path())
                    .unwrap()
                    .display()
                    .to_string();
                (s.stage, rel)
            })
            .collect();
        let expected: Vec<(Stage, String)> = [
            (Stage::Boot, "boot.d/x.sh"),
            (Stage::Ready, "ready.d/a.py"),
            (Stage::Ready, "ready.d/b.sh"),
            (Stage::Ready, "ready.d/sub1/b.sh"),
            (Stage::Ready, "ready.d/sub1/c.sh"),
            (Stage::Ready, "ready.d/sub1/deeper/d.py"),
            (Stage::Ready, "ready.d/sub2/z.sh"),
        ]
        .into_iter()
        .map(|(s, p)| (s, p.to_owned()))
        .collect();
        assert_eq!(found, expected);
        assert!(discover(&root.path().join("missing")).is_empty());
    }
}
