//! The real `dig`, run against a server and its output picked apart into status, flags and sections.

use std::net::IpAddr;
use std::process::Command;

#[derive(Debug, Clone)]
pub struct Dig {
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`, ...
    pub status: String,
    /// Header flags.
    pub flags: Vec<String>,
    /// Answer records, whitespace collapsed: `name ttl class type rdata`.
    pub answers: Vec<String>,
    /// Authority records.
    pub authority: Vec<String>,
    /// Additional records.
    pub additional: Vec<String>,
    /// Everything dig printed.
    pub raw: String,
}

impl Dig {
    /// True when the header flags include `f` (`aa`, `tc`, `rd`, ...).
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }
}

/// Collapses whitespace so records compare as "name ttl class type rdata".
fn norm(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs the real `dig @server -p port +tries=1 +time=2 args...`, inside network namespace `netns` when
/// given.
pub fn dig_in(netns: Option<&str>, server: IpAddr, port: u16, args: &[&str]) -> Dig {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "dig"]);
            c
        }
        None => Command::new("dig"),
    };
    cmd.arg(format!("@{server}"))
        .arg("-p")
        .arg(port.to_string())
        .args(["+tries=1", "+time=2"])
        .args(args);
    let out = cmd
        .output()
        .expect("run dig (install it: apt-get install bind9-dnsutils)");
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    parse_dig(raw)
}

fn parse_dig(raw: String) -> Dig {
    let mut d = Dig {
        status: String::new(),
        flags: Vec::new(),
        answers: Vec::new(),
        authority: Vec::new(),
        additional: Vec::new(),
        raw: raw.clone(),
    };
    let mut section = "";
    for line in raw.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            d.status = rest.split(',').next().unwrap_or("").trim().to_string();
        }
        if let Some(rest) = line.strip_prefix(";; flags: ") {
            let flags = rest.split(';').next().unwrap_or("");
            d.flags = flags.split_whitespace().map(str::to_string).collect();
        }
        if line.starts_with(";; ANSWER SECTION") {
            section = "answer";
            continue;
        }
        if line.starts_with(";; AUTHORITY SECTION") {
            section = "authority";
            continue;
        }
        if line.starts_with(";; ADDITIONAL SECTION") {
            section = "additional";
            continue;
        }
        if line.trim().is_empty() {
            section = "";
            continue;
        }
        if line.starts_with(';') {
            continue;
        }
        let rec = norm(line);
        match section {
            "answer" => d.answers.push(rec),
            "authority" => d.authority.push(rec),
            "additional" => d.additional.push(rec),
            _ => {}
        }
    }
    d
}
