//! Network namespaces for end-to-end tests that need clients with addresses of their own: veth pairs to
//! the host, a `resolv.conf` and `hosts` per namespace, all removed on drop (even after a panic). Needs root.

use std::net::IpAddr;
use std::process::Command;

/// True when this process runs as root (namespaces need it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// True when root-only tests must run (fail instead of skip): `SKYPORT_REQUIRE_ROOT_TESTS=1`.
pub fn root_required() -> bool {
    std::env::var("SKYPORT_REQUIRE_ROOT_TESTS").is_ok_and(|v| v == "1")
}

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// One network namespace linked to the host by a veth pair: host side `host_ip/24`, namespace side
/// `ns_ip/24`, with `/etc/netns/<name>/resolv.conf` pointing at `nameserver`.
pub struct Netns {
    /// The namespace name (`ip netns exec <name> ...`).
    pub name: String,
    /// The host end of the veth pair.
    pub host_if: String,
    /// The host end's address (`198.18.<subnet>.1`).
    pub host_ip: IpAddr,
    /// The namespace end's address (`198.18.<subnet>.2`).
    pub ns_ip: IpAddr,
}

/// A set of namespaces removed (with their veths and `/etc/netns` dirs) on drop, even after a panic.
pub struct NetnsGuard {
    /// The namespaces, in the order of the subnets asked for.
    pub namespaces: Vec<Netns>,
}

impl NetnsGuard {
    /// Creates one namespace per `198.18.<subnet>.0/24` (host .1, namespace .2); names are unique to
    /// this process. `resolv.conf` in each points at the host side address.
    pub fn create(tag: &str, subnets: &[u8]) -> Result<NetnsGuard, String> {
        let pid = std::process::id() % 100_000;
        let mut guard = NetnsGuard {
            namespaces: Vec::new(),
        };
        for &s in subnets {
            let name = format!("skyport-{tag}-{pid}-{s}");
            let host_if = format!("sph{pid}x{s}");
            let ns_if = format!("spn{pid}x{s}");
            let host_ip: IpAddr = format!("198.18.{s}.1").parse().unwrap();
            let ns_ip: IpAddr = format!("198.18.{s}.2").parse().unwrap();
            sh(&["ip", "netns", "add", &name])?;
            guard.namespaces.push(Netns {
                name: name.clone(),
                host_if: host_if.clone(),
                host_ip,
                ns_ip,
            });
            sh(&[
                "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ])?;
            sh(&["ip", "link", "set", &ns_if, "netns", &name])?;
            sh(&[
                "ip",
                "addr",
                "add",
                &format!("{host_ip}/24"),
                "dev",
                &host_if,
            ])?;
            sh(&["ip", "link", "set", &host_if, "up"])?;
            sh(&[
                "ip",
                "netns",
                "exec",
                &name,
                "ip",
                "addr",
                "add",
                &format!("{ns_ip}/24"),
                "dev",
                &ns_if,
            ])?;
            sh(&[
                "ip", "netns", "exec", &name, "ip", "link", "set", &ns_if, "up",
            ])?;
            sh(&[
                "ip", "netns", "exec", &name, "ip", "link", "set", "lo", "up",
            ])?;
            let dir = format!("/etc/netns/{name}");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            std::fs::write(
                format!("{dir}/resolv.conf"),
                format!("nameserver {host_ip}\noptions timeout:2 attempts:1\n"),
            )
            .map_err(|e| e.to_string())?;
            // An /etc/hosts of its own so nothing on the host's hosts file interferes.
            std::fs::write(format!("{dir}/hosts"), "127.0.0.1 localhost\n")
                .map_err(|e| e.to_string())?;
        }
        Ok(guard)
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = sh(&["ip", "link", "del", &ns.host_if]);
            let _ = sh(&["ip", "netns", "del", &ns.name]);
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", ns.name));
        }
    }
}
