//! The managed runtimes: which ones AWS still lets you create functions with, their default images, and
//! how the executors start them.
//!
//! The model's `Runtime` enum lists every runtime Lambda ever had. AWS refuses to create (and later to
//! update) functions with a deprecated runtime once its block date passed; the dates below follow
//! AWS's runtime deprecation table ("Lambda runtimes", deprecated runtimes) and are compared with the
//! current date, so Skyport refuses what AWS refuses on the same day. Where AWS has not published a block
//! date the runtime stays usable.

use std::time::SystemTime;

/// A runtime's family, which decides how its environment is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `python3.x`.
    Python,
    /// `nodejsNN.x`.
    Node,
    /// `javaNN`.
    Java,
    /// `dotnetN`.
    Dotnet,
    /// `rubyN.N`.
    Ruby,
    /// `provided`, `provided.al2`, `provided.al2023`: the function ships its own `bootstrap`.
    Provided,
}

/// One runtime.
#[derive(Debug, Clone, Copy)]
pub struct Runtime {
    /// The identifier (`python3.12`).
    pub id: &'static str,
    /// Its family.
    pub family: Family,
    /// The default image (`public.ecr.aws/lambda/python:3.12`).
    pub image: &'static str,
    /// The date (UTC, `YYYY-MM-DD`) from which creating functions with it is blocked.
    pub block_create: Option<&'static str>,
    /// The date from which updating functions with it is blocked.
    pub block_update: Option<&'static str>,
    /// The runtime AWS recommends instead, in its refusal.
    pub successor: &'static str,
}

const fn rt(
    id: &'static str,
    family: Family,
    image: &'static str,
    block: Option<(&'static str, &'static str)>,
    successor: &'static str,
) -> Runtime {
    let (block_create, block_update) = match block {
        Some((c, u)) => (Some(c), Some(u)),
        None => (None, None),
    };
    Runtime {
        id,
        family,
        image,
        block_create,
        block_update,
        successor,
    }
}

use Family::*;

/// Every runtime of the model, with its image and block dates.
pub const RUNTIMES: &[Runtime] = &[
    rt(
        "nodejs26.x",
        Node,
        "public.ecr.aws/lambda/nodejs:26",
        None,
        "nodejs26.x",
    ),
    rt(
        "nodejs24.x",
        Node,
        "public.ecr.aws/lambda/nodejs:24",
        None,
        "nodejs24.x",
    ),
    rt(
        "nodejs22.x",
        Node,
        "public.ecr.aws/lambda/nodejs:22",
        None,
        "nodejs24.x",
    ),
    rt(
        "nodejs20.x",
        Node,
        "public.ecr.aws/lambda/nodejs:20",
        None,
        "nodejs24.x",
    ),
    rt(
        "nodejs18.x",
        Node,
        "public.ecr.aws/lambda/nodejs:18",
        Some(("2026-02-03", "2026-03-09")),
        "nodejs24.x",
    ),
    rt(
        "nodejs16.x",
        Node,
        "public.ecr.aws/lambda/nodejs:16",
        Some(("2025-09-01", "2025-10-01")),
        "nodejs24.x",
    ),
    rt(
        "nodejs14.x",
        Node,
        "public.ecr.aws/lambda/nodejs:14",
        Some(("2024-01-09", "2024-02-08")),
        "nodejs24.x",
    ),
    rt(
        "nodejs12.x",
        Node,
        "public.ecr.aws/lambda/nodejs:12",
        Some(("2023-03-31", "2023-04-30")),
        "nodejs24.x",
    ),
    rt(
        "nodejs10.x",
        Node,
        "public.ecr.aws/lambda/nodejs:10",
        Some(("2021-07-30", "2022-02-14")),
        "nodejs24.x",
    ),
    rt(
        "nodejs8.10",
        Node,
        "public.ecr.aws/lambda/nodejs:8",
        Some(("2020-01-06", "2020-02-03")),
        "nodejs24.x",
    ),
    rt(
        "nodejs6.10",
        Node,
        "public.ecr.aws/lambda/nodejs:6",
        Some(("2019-04-30", "2019-08-12")),
        "nodejs24.x",
    ),
    rt(
        "nodejs4.3",
        Node,
        "public.ecr.aws/lambda/nodejs:4",
        Some(("2018-10-31", "2019-04-30")),
        "nodejs24.x",
    ),
    rt(
        "nodejs4.3-edge",
        Node,
        "public.ecr.aws/lambda/nodejs:4",
        Some(("2019-04-30", "2019-04-30")),
        "nodejs24.x",
    ),
    rt(
        "nodejs",
        Node,
        "public.ecr.aws/lambda/nodejs:0.10",
        Some(("2016-10-31", "2016-10-31")),
        "nodejs24.x",
    ),
    rt(
        "python3.15",
        Python,
        "public.ecr.aws/lambda/python:3.15",
        None,
        "python3.15",
    ),
    rt(
        "python3.14",
        Python,
        "public.ecr.aws/lambda/python:3.14",
        None,
        "python3.14",
    ),
    rt(
        "python3.13",
        Python,
        "public.ecr.aws/lambda/python:3.13",
        None,
        "python3.14",
    ),
    rt(
        "python3.12",
        Python,
        "public.ecr.aws/lambda/python:3.12",
        None,
        "python3.14",
    ),
    rt(
        "python3.11",
        Python,
        "public.ecr.aws/lambda/python:3.11",
        None,
        "python3.14",
    ),
    rt(
        "python3.10",
        Python,
        "public.ecr.aws/lambda/python:3.10",
        None,
        "python3.14",
    ),
    rt(
        "python3.9",
        Python,
        "public.ecr.aws/lambda/python:3.9",
        Some(("2026-08-31", "2026-09-30")),
        "python3.14",
    ),
    rt(
        "python3.8",
        Python,
        "public.ecr.aws/lambda/python:3.8",
        Some(("2025-08-31", "2025-09-30")),
        "python3.14",
    ),
    rt(
        "python3.7",
        Python,
        "public.ecr.aws/lambda/python:3.7",
        Some(("2024-01-09", "2024-02-08")),
        "python3.14",
    ),
    rt(
        "python3.6",
        Python,
        "public.ecr.aws/lambda/python:3.6",
        Some(("2022-08-17", "2022-08-29")),
        "python3.14",
    ),
    rt(
        "python2.7",
        Python,
        "public.ecr.aws/lambda/python:2.7",
        Some(("2021-07-15", "2022-05-30")),
        "python3.14",
    ),
    rt(
        "java25",
        Java,
        "public.ecr.aws/lambda/java:25",
        None,
        "java25",
    ),
    rt(
        "java21",
        Java,
        "public.ecr.aws/lambda/java:21",
        None,
        "java25",
    ),
    rt(
        "java17",
        Java,
        "public.ecr.aws/lambda/java:17",
        None,
        "java25",
    ),
    rt(
        "java11",
        Java,
        "public.ecr.aws/lambda/java:11",
        None,
        "java25",
    ),
    rt(
        "java17.al2023",
        Java,
        "public.ecr.aws/lambda/java:17.al2023",
        None,
        "java25",
    ),
    rt(
        "java11.al2023",
        Java,
        "public.ecr.aws/lambda/java:11.al2023",
        None,
        "java25",
    ),
    rt(
        "java8.al2023",
        Java,
        "public.ecr.aws/lambda/java:8.al2023",
        None,
        "java25",
    ),
    rt(
        "java8.al2",
        Java,
        "public.ecr.aws/lambda/java:8.al2",
        None,
        "java25",
    ),
    rt(
        "java8",
        Java,
        "public.ecr.aws/lambda/java:8",
        Some(("2024-02-08", "2024-03-12")),
        "java25",
    ),
    rt(
        "dotnet10",
        Dotnet,
        "public.ecr.aws/lambda/dotnet:10",
        None,
        "dotnet10",
    ),
    rt(
        "dotnet8",
        Dotnet,
        "public.ecr.aws/lambda/dotnet:8",
        None,
        "dotnet10",
    ),
    rt(
        "dotnet6",
        Dotnet,
        "public.ecr.aws/lambda/dotnet:6",
        Some(("2025-02-28", "2025-03-31")),
        "dotnet10",
    ),
    rt(
        "dotnetcore3.1",
        Dotnet,
        "public.ecr.aws/lambda/dotnet:core3.1",
        Some(("2023-04-03", "2023-05-03")),
        "dotnet10",
    ),
    rt(
        "dotnetcore2.1",
        Dotnet,
        "public.ecr.aws/lambda/dotnet:core2.1",
        Some(("2021-12-20", "2022-04-15")),
        "dotnet10",
    ),
    rt(
        "dotnetcore2.0",
        Dotnet,
        "public.ecr.aws/lambda/dotnet:core2.0",
        Some(("2019-04-30", "2019-05-30")),
        "dotnet10",
    ),
    rt(
        "dotnetcore1.0",
        Dotnet,
        "public.ecr.aws/lambda/dotnet:core1.0",
        Some(("2019-06-27", "2019-07-31")),
        "dotnet10",
    ),
    rt(
        "ruby4.0",
        Ruby,
        "public.ecr.aws/lambda/ruby:4.0",
        None,
        "ruby4.0",
    ),
    rt(
        "ruby3.4",
        Ruby,
        "public.ecr.aws/lambda/ruby:3.4",
        None,
        "ruby3.4",
    ),
    rt(
        "ruby3.3",
        Ruby,
        "public.ecr.aws/lambda/ruby:3.3",
        None,
        "ruby3.4",
    ),
    rt(
        "ruby3.2",
        Ruby,
        "public.ecr.aws/lambda/ruby:3.2",
        Some(("2026-08-31", "2026-09-30")),
        "ruby3.4",
    ),
    rt(
        "ruby2.7",
        Ruby,
        "public.ecr.aws/lambda/ruby:2.7",
        Some(("2024-01-09", "2024-02-08")),
        "ruby3.4",
    ),
    rt(
        "ruby2.5",
        Ruby,
        "public.ecr.aws/lambda/ruby:2.5",
        Some(("2021-07-30", "2022-03-31")),
        "ruby3.4",
    ),
    rt(
        "custom",
        Provided,
        "public.ecr.aws/lambda/provided:al2023",
        None,
        "provided.al2023",
    ),
    rt(
        "provided.al2023",
        Provided,
        "public.ecr.aws/lambda/provided:al2023",
        None,
        "provided.al2023",
    ),
    rt(
        "provided.al2",
        Provided,
        "public.ecr.aws/lambda/provided:al2",
        None,
        "provided.al2023",
    ),
    rt(
        "provided",
        Provided,
        "public.ecr.aws/lambda/provided:alami",
        Some(("2024-02-08", "2024-03-12")),
        "provided.al2023",
    ),
    rt(
        "go1.x",
        Provided,
        "public.ecr.aws/lambda/go:1",
        Some(("2024-02-08", "2024-03-12")),
        "provided.al2023",
    ),
];

/// The runtime `id`.
pub fn find(id: &str) -> Option<&'static Runtime> {
    RUNTIMES.iter().find(|r| r.id == id)
}

/// Today as `YYYY-MM-DD` (UTC).
fn today() -> String {
    let at = time::OffsetDateTime::from(SystemTime::now());
    format!(
        "{:04}-{:02}-{:02}",
        at.year(),
        u8::from(at.month()),
        at.day()
    )
}

/// Why AWS refuses `id` for creating (`creating`) or updating a function today, in AWS's words.
pub fn refusal(id: &str, creating: bool) -> Option<String> {
    let runtime = find(id)?;
    let block = if creating {
        runtime.block_create
    } else {
        runtime.block_update
    }?;
    (today().as_str() >= block).then(|| {
        format!(
            "The runtime parameter of {id} is no longer supported for creating or updating AWS Lambda \
             functions. We recommend you use the new runtime ({}) while creating or updating functions.",
            runtime.successor
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_runtime_is_known() {
        let model = crate::model();
        let id = model.shape_named("Runtime").expect("Runtime enum");
        let skyport_wire::model::Kind::String {
            enum_values: Some(values),
            ..
        } = &model.shape(id).kind
        else {
            panic!("Runtime is an enum");
        };
        for v in values {
            assert!(find(v).is_some(), "{v} is missing from RUNTIMES");
        }
    }

    #[test]
    fn old_runtimes_are_refused() {
        assert!(
            refusal("python2.7", true)
                .unwrap()
                .contains("python2.7 is no longer supported")
        );
        assert!(refusal("python3.12", true).is_none());
        assert!(refusal("provided.al2023", false).is_none());
    }
}
