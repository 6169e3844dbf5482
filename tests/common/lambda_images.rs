//! The Lambda tests' runtime images and test functions, built offline by `tests/lambda_images/build.sh`
//! (no registry is reachable, so AWS's `public.ecr.aws/lambda/*` images are replaced by local images with
//! the same contract), and the Skyport image the container placements run (`compose/build-local.sh`).
//! Include it with `#[path = "common/lambda_images.rs"] mod lambda_images;`.
//!
//! ```ignore
//! let images = lambda_images::ensure_images();
//! // start Skyport with LAMBDA_RUNTIME_IMAGE_MAPPING = images.runtime_image_mapping, then create
//! // functions from images.python_zip (python3.11, handler.main) and images.rust_zip (provided.al2023)
//! ```
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The image for runtime `python3.11` (AWS: `public.ecr.aws/lambda/python:3.11`).
pub const PYTHON_IMAGE: &str = "skyport-test/lambda-python:3.11";
/// The image for runtime `provided.al2023` (AWS: `public.ecr.aws/lambda/provided:al2023`).
pub const PROVIDED_IMAGE: &str = "skyport-test/lambda-provided:al2023";

/// What `ensure_images` built.
#[derive(Clone, Debug)]
pub struct Images {
    /// `tests/lambda_functions/python_callback` zipped (`handler.py` at the root; handler `handler.main`,
    /// runtime `python3.11`).
    pub python_zip: PathBuf,
    /// `tests/lambda_functions/rust_callback` zipped (one static executable, `bootstrap`, at the root;
    /// runtime `provided.al2023`, any handler).
    pub rust_zip: PathBuf,
    /// The value for Skyport's `LAMBDA_RUNTIME_IMAGE_MAPPING`:
    /// `{"python3.11": "skyport-test/lambda-python:3.11", "provided.al2023": "skyport-test/lambda-provided:al2023"}`.
    pub runtime_image_mapping: String,
}

/// Builds the images and the zips once per test process (`tests/lambda_images/build.sh`, which takes
/// an exclusive `flock` on `target/lambda-images.lock`, so parallel test binaries build once and the
/// others wait for it; a re-run with nothing changed takes about a second). Panics with the script's
/// output when it fails. Needs Docker: decide to skip or fail (`SKYPORT_REQUIRE_DOCKER`) before
/// calling this.
pub fn ensure_images() -> Images {
    static BUILT: OnceLock<Result<Images, String>> = OnceLock::new();
    match BUILT.get_or_init(build) {
        Ok(images) => images.clone(),
        Err(error) => panic!("{error}"),
    }
}

fn build() -> Result<Images, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = repo.join("tests/lambda_images/build.sh");
    let output = Command::new("bash")
        .arg(&script)
        .current_dir(repo)
        .output()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}):\n{text}",
            script.display(),
            output.status
        ));
    }
    eprint!("{text}");
    let out = repo.join("target/lambda-functions");
    let images = Images {
        python_zip: out.join("python_callback.zip"),
        rust_zip: out.join("rust_callback.zip"),
        runtime_image_mapping: format!(
            r#"{{"python3.11": "{PYTHON_IMAGE}", "provided.al2023": "{PROVIDED_IMAGE}"}}"#
        ),
    };
    for zip in [&images.python_zip, &images.rust_zip] {
        if !zip.is_file() {
            return Err(format!(
                "{} succeeded but {} is missing:\n{text}",
                script.display(),
                zip.display()
            ));
        }
    }
    Ok(images)
}

/// The Skyport image (`compose/build-local.sh`, once per test binary): `skyport/skyport:local`, or the
/// tag in `SKYPORT_TEST_IMAGE_TAG` (several checkouts sharing one Docker Engine keep apart). Panics with
/// the script's output when it fails.
pub fn skyport_image() -> &'static str {
    static BUILT: OnceLock<Result<String, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let tag = std::env::var("SKYPORT_TEST_IMAGE_TAG")
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "skyport/skyport:local".to_owned());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/build-local.sh");
        let output = Command::new(&script)
            .env("SKYPORT_LOCAL_TAG", &tag)
            .output()
            .map_err(|e| format!("could not run {}: {e}", script.display()))?;
        if output.status.success() {
            Ok(tag)
        } else {
            Err(format!(
                "{} failed:\n{}\n{}",
                script.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    match built {
        Ok(tag) => tag,
        Err(e) => panic!("{e}"),
    }
}
