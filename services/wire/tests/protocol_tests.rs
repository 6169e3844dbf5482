//! The protocol conformance suite: AWS's protocol test cases (botocore's `tests/unit/protocols`, derived
//! from the Smithy protocol tests, vendored under `models/protocol-tests/`) run against the wire layer.
//!
//! - Input cases: the request botocore serialised must parse back to the case's parameters.
//! - Output cases: the case's result (or error) is serialised by the wire layer, and botocore's own
//!   response parser (driven from Python) must read it back as the same result.
//!
//! The suite prints how many cases pass per protocol and the id and reason of every failure; the
//! failures must be exactly those listed in `tests/known-failures.txt` (each with its reason), so a
//! regression fails the test and a fix is noticed. ec2 and CBOR cases are counted as not served:
//! no service Skyport implements uses those protocols.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine;
use bytes::Bytes;
use serde_json::{Value as Json, json};
use skyport_core::{Protocol, RequestContext};
use skyport_wire::error::{self, ApiError};
use skyport_wire::model::{Kind, Location, Model, ShapeId};
use skyport_wire::{Codec, Endpoint, Struct, Timestamp, Value};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/protocol-tests")
}

const SERVED: &[&str] = &[
    "query",
    "json",
    "json_1_0",
    "rest-json",
    "rest-xml",
    "json_1_0-query-compatible",
];

fn codec_of(model: &Model) -> Codec {
    Codec::of_model(model)
}

fn protocol_of(codec: Codec) -> Protocol {
    codec.protocol()
}

/// A canonical value as botocore's parameters write it (timestamps as epoch seconds, blobs as text).
fn to_params(model: &Model, shape: ShapeId, value: &Value) -> Json {
    match (value, &model.shape(shape).kind) {
        (Value::Struct(fields), Kind::Structure(st)) => {
            let mut object = serde_json::Map::new();
            for member in &st.members {
                if let Some(v) = fields.get(&member.name) {
                    object.insert(member.name.clone(), to_params(model, member.target, v));
                }
            }
            Json::Object(object)
        }
        (Value::List(items), Kind::List { member, .. }) => Json::Array(
            items
                .iter()
                .map(|v| to_params(model, member.target, v))
                .collect(),
        ),
        (Value::Map(entries), Kind::Map { value: v, .. }) => Json::Object(
            entries
                .iter()
                .map(|(k, item)| (k.clone(), to_params(model, v.target, item)))
                .collect(),
        ),
        (Value::Timestamp(t), _) => {
            if t.nanos == 0 {
                json!(t.secs)
            } else {
                json!(t.as_f64())
            }
        }
        (Value::Blob(b), _) => Json::String(String::from_utf8_lossy(b).into_owned()),
        (Value::Float(f), _) if !f.is_finite() => {
            Json::String(skyport_wire::scalar::float_text(*f))
        }
        _ => skyport_wire::json::plain(value),
    }
}

/// botocore's parameters (or expected result) as a canonical value of `shape`.
fn from_params(model: &Model, shape: ShapeId, json: &Json) -> Value {
    let s = model.shape(shape);
    match (&s.kind, json) {
        (Kind::Structure(st), Json::Object(o)) if !st.document => {
            let mut fields = Struct::new();
            for member in &st.members {
                let Some(v) = o.get(&member.name) else {
                    continue;
                };
                // botocore's serialisers drop nulls, and empty collections outside the body.
                let empty = matches!(v, Json::Array(a) if a.is_empty())
                    || matches!(v, Json::Object(o) if o.is_empty());
                if v.is_null() || (empty && member.location != Location::Body) {
                    continue;
                }
                fields.insert(member.name.clone(), from_params(model, member.target, v));
            }
            Value::Struct(fields)
        }
        (Kind::Structure(_), other) => Value::Document(other.clone()),
        (Kind::List { member, .. }, Json::Array(items)) => Value::List(
            items
                .iter()
                .map(|v| from_params(model, member.target, v))
                .collect(),
        ),
        (Kind::Map { value, .. }, Json::Object(o)) => Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), from_params(model, value.target, v)))
                .collect(),
        ),
        (Kind::Timestamp, Json::Number(n)) => {
            Value::Timestamp(Timestamp::from_f64(n.as_f64().unwrap_or(0.0)))
        }
        (Kind::Blob, Json::String(text)) => Value::Blob(Bytes::from(text.clone().into_bytes())),
        (Kind::Float | Kind::Double, Json::String(text)) => {
            Value::Float(skyport_wire::scalar::parse_float(text).unwrap_or(f64::NAN))
        }
        (Kind::Float | Kind::Double, Json::Number(n)) => Value::Float(n.as_f64().unwrap_or(0.0)),
        (Kind::Integer | Kind::Long, Json::Number(n)) => Value::Integer(n.as_i64().unwrap_or(0)),
        (Kind::Boolean, Json::Bool(b)) => Value::Bool(*b),
        (Kind::String { .. }, Json::String(text)) => Value::String(text.clone()),
        (Kind::String { .. }, other) if s.json_value => Value::String(other.to_string()),
        (_, Json::Null) => Value::Null,
        (_, other) => Value::Document(other.clone()),
    }
}

fn numbers_equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            (x.as_f64().unwrap_or(0.0) - y.as_f64().unwrap_or(0.0)).abs() < 1e-6
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| numbers_equal(v, w)))
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| numbers_equal(v, w))
        }
        _ => a == b,
    }
}

struct Outcome {
    protocol: String,
    kind: &'static str,
    id: String,
    failure: Option<String>,
}

fn leak(model: Model) -> &'static Model {
    Box::leak(Box::new(model))
}

fn suite_model(suite: &Json, op: &Json) -> Result<(&'static Model, String), String> {
    let mut model = Model::from_value(suite).map_err(|e| format!("model: {e}"))?;
    let name = op
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or("OperationName")
        .to_owned();
    model
        .add_operation(&name, op)
        .map_err(|e| format!("operation: {e}"))?;
    Ok((leak(model), name))
}

fn run_input(suite: &Json, case: &Json) -> Result<(), String> {
    let (model, name) = suite_model(suite, &case["given"])?;
    let op = model.operation(&name).ok_or("no operation")?;
    let serialized = &case["serialized"];
    let codec = codec_of(model);
    let uri = serialized["uri"].as_str().unwrap_or("/");
    let mut builder = http::Request::builder()
        .method(serialized["method"].as_str().unwrap_or("POST"))
        .uri(uri);
    if let Some(headers) = serialized["headers"].as_object() {
        for (k, v) in headers {
            builder = builder.header(k.as_str(), v.as_str().unwrap_or_default());
        }
    }
    if codec != Codec::Query
        && matches!(codec, Codec::Json { .. })
        && serialized["headers"].get("X-Amz-Target").is_none()
    {
        builder = builder.header(
            "x-amz-target",
            format!("{}.{name}", model.metadata.target_prefix),
        );
    }
    let (parts, ()) = builder
        .body(())
        .map_err(|e| format!("request: {e}"))?
        .into_parts();
    let body = Bytes::from(
        serialized["body"]
            .as_str()
            .unwrap_or("")
            .to_owned()
            .into_bytes(),
    );
    let mut ctx = RequestContext::new("test", protocol_of(codec));
    let endpoint = Endpoint::new(model);
    let (resolved, value) = endpoint
        .read(codec, &mut ctx, &parts, body, None)
        .map_err(|e| format!("read failed: {e}"))?;
    if resolved.name != op.name {
        return Err(format!("resolved {} instead of {}", resolved.name, op.name));
    }
    let mut parsed = match op.input {
        Some(shape) => to_params(
            model,
            shape,
            &from_params(model, shape, &to_params(model, shape, &value)),
        ),
        None => json!({}),
    };
    // Idempotency tokens botocore filled in are not in the parameters.
    if let (Some(shape), Json::Object(p)) = (op.input, &mut parsed)
        && let Some(st) = model.shape(shape).structure()
    {
        for m in st.members.iter().filter(|m| m.idempotency_token) {
            if case["params"].get(&m.name).is_none() {
                p.remove(&m.name);
            }
        }
    }
    let expected = &case["params"];
    let expected = match op.input {
        Some(shape) => to_params(model, shape, &from_params(model, shape, expected)),
        None => json!({}),
    };
    if numbers_equal(&parsed, &expected) {
        Ok(())
    } else {
        Err(format!("parsed {parsed} expected {expected}"))
    }
}

/// Serialises an output case; the response for botocore to read.
fn write_output(suite: &Json, case: &Json) -> Result<Json, String> {
    let (model, name) = suite_model(suite, &case["given"])?;
    let op = model.operation(&name).ok_or("no operation")?;
    let codec = codec_of(model);
    let ctx = RequestContext::new("test", protocol_of(codec));
    let (status, headers, body): (u16, Vec<(String, String)>, Vec<u8>) =
        if case.get("error").is_some() {
            let code = case["errorCode"].as_str().unwrap_or("").to_owned();
            let message = case["errorMessage"].as_str().unwrap_or("").to_owned();
            let mut fields = Struct::new();
            if let Some(shape) = model.shape_named(&code)
                && let Value::Struct(f) = from_params(model, shape, &case["error"])
            {
                fields = f;
            }
            let api = ApiError {
                code: code.clone().into(),
                message,
                fields,
                status: None,
            };
            let aws = error::render(codec, model, api);
            let info = skyport_core::ServiceInfo {
                name: "test",
                protocols: &[],
                xml_namespace: "",
                json_error_prefix: "",
            };
            let info: &'static skyport_core::ServiceInfo = Box::leak(Box::new(info));
            let response = aws.to_response(
                protocol_of(codec),
                &skyport_core::error::ErrorRender {
                    request_id: "rid",
                    host_id: None,
                    service: Some(info),
                    method: None,
                },
            );
            collect(response)
        } else {
            let value = match op.output {
                Some(shape) => from_params(model, shape, &case["result"]),
                None => Value::Struct(Struct::new()),
            };
            collect(Endpoint::new(model).write(codec, &ctx, op, &value))
        };
    let mut given = case["given"].clone();
    given["name"] = json!(name);
    Ok(json!({
        "model": {"metadata": suite["metadata"], "shapes": suite["shapes"]},
        "operation": given,
        "status": status,
        "headers": headers.into_iter().collect::<BTreeMap<_, _>>(),
        "body_b64": base64::engine::general_purpose::STANDARD.encode(body),
        "result": case.get("result").cloned().unwrap_or(Json::Null),
        "error": case.get("error").cloned().unwrap_or(Json::Null),
        "errorCode": case.get("errorCode").cloned().unwrap_or(json!("")),
        "errorMessage": case.get("errorMessage").cloned().unwrap_or(json!("")),
    }))
}

fn collect(response: http::Response<skyport_core::Body>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use http_body_util::BodyExt;
    let (parts, body) = response.into_parts();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bytes = rt
        .block_on(body.collect())
        .map(|c| c.to_bytes().to_vec())
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    (parts.status.as_u16(), headers, bytes)
}

fn load(kind: &str, protocol: &str) -> Vec<Json> {
    let path = data_dir().join(kind).join(format!("{protocol}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match serde_json::from_str(&text) {
        Ok(Json::Array(suites)) => suites,
        _ => panic!("{}: not a list of suites", path.display()),
    }
}

/// The botocore release the test cases come from, installed by `.ci/run` (`models/install-test-botocore.sh`)
/// under `models/.botocore/<version>`: older parsers read some cases differently.
fn pinned_botocore() -> Option<PathBuf> {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let version = std::fs::read_to_string(models.join("BOTOCORE_VERSION")).ok()?;
    let dir = models.join(".botocore").join(version.trim());
    dir.join("botocore").is_dir().then_some(dir)
}

fn python_with_botocore(path: &Path) -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import botocore, dateutil"])
        .env("PYTHONPATH", path)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn protocol_conformance() {
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut for_botocore: Vec<Json> = Vec::new();
    let mut not_served = BTreeMap::new();
    let files: Vec<String> = std::fs::read_dir(data_dir().join("input"))
        .expect("protocol tests")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
        .collect();
    for protocol in &files {
        for kind in ["input", "output"] {
            let suites = load(kind, protocol);
            let count: usize = suites
                .iter()
                .map(|s| s["cases"].as_array().map_or(0, Vec::len))
                .sum();
            if !SERVED.contains(&protocol.as_str()) {
                *not_served.entry(protocol.clone()).or_insert(0) += count;
                continue;
            }
            for suite in &suites {
                for case in suite["cases"].as_array().into_iter().flatten() {
                    let id = case["id"].as_str().unwrap_or("?").to_owned();
                    if kind == "input" {
                        let failure = run_input(suite, case).err();
                        outcomes.push(Outcome {
                            protocol: protocol.clone(),
                            kind,
                            id,
                            failure,
                        });
                    } else {
                        match write_output(suite, case) {
                            Ok(mut c) => {
                                c["id"] = json!(format!("{protocol}/{id}"));
                                for_botocore.push(c);
                            }
                            Err(failure) => outcomes.push(Outcome {
                                protocol: protocol.clone(),
                                kind,
                                id,
                                failure: Some(failure),
                            }),
                        }
                    }
                }
            }
        }
    }
    let botocore = pinned_botocore().filter(|p| python_with_botocore(p));
    if let Some(botocore) = botocore {
        let dir = tempfile_dir();
        let cases_path = dir.join("cases.json");
        std::fs::write(
            &cases_path,
            serde_json::to_vec(&for_botocore).expect("json"),
        )
        .expect("write cases");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/botocore_parse.py");
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(&cases_path)
            .env("PYTHONPATH", &botocore)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "botocore_parse.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let results: Vec<Json> = serde_json::from_slice(&out.stdout).expect("results");
        for r in results {
            let full = r["id"].as_str().unwrap_or("?/?");
            let (protocol, id) = full.split_once('/').unwrap_or(("?", full));
            outcomes.push(Outcome {
                protocol: protocol.to_owned(),
                kind: "output",
                id: id.to_owned(),
                failure: (!r["ok"].as_bool().unwrap_or(false))
                    .then(|| r["detail"].as_str().unwrap_or("").to_owned()),
            });
        }
        let _ = std::fs::remove_dir_all(&dir);
    } else if std::env::var("SKYPORT_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!(
            "python3 with the pinned botocore is required for the output cases (SKYPORT_REQUIRE_TOOLS=1): \
             run models/install-test-botocore.sh"
        );
    } else {
        eprintln!(
            "skipping {} output cases: python3 with the pinned botocore not found (models/install-test-botocore.sh)",
            for_botocore.len()
        );
    }

    let mut summary: BTreeMap<(String, &str), (usize, usize)> = BTreeMap::new();
    let mut failures = BTreeSet::new();
    for o in &outcomes {
        let entry = summary.entry((o.protocol.clone(), o.kind)).or_default();
        entry.1 += 1;
        match &o.failure {
            None => entry.0 += 1,
            Some(why) => {
                let why: String = why.chars().take(600).collect();
                eprintln!("FAIL {} {} {}: {why}", o.protocol, o.kind, o.id);
                failures.insert(format!("{} {} {}", o.protocol, o.kind, o.id));
            }
        }
    }
    eprintln!("protocol conformance (passed/total):");
    for ((protocol, kind), (passed, total)) in &summary {
        eprintln!("  {protocol:28} {kind:6} {passed:4}/{total}");
    }
    for (protocol, count) in &not_served {
        eprintln!("  {protocol:28} not served by any Skyport service: {count} cases");
    }
    let known_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/known-failures.txt");
    let known: BTreeSet<String> = std::fs::read_to_string(&known_path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    let new: Vec<&String> = failures.difference(&known).collect();
    let fixed: Vec<&String> = known.difference(&failures).collect();
    assert!(
        new.is_empty() && fixed.is_empty(),
        "failures changed: new {new:#?}; now passing (remove from known-failures.txt) {fixed:#?}"
    );
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("skyport-protocol-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
