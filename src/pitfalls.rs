//! Checks of the machine around a configuration, each finding with its fix: the Docker socket when a
//! service needs it, ports already taken, a `LOCALSTACK_HOST` that does not lead back to Skyport, a
//! compose file that publishes ports on every interface, and a container without its state volume.
//! Used by `skyport config validate` and both forms of `skyport start`; the settings-only findings live
//! in [`crate::config`].

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};

use crate::config::Config;

/// Where the Docker daemon's socket is: `DOCKER_HOST` when it is a `unix://` URL, else the default.
/// `Err` carries a `DOCKER_HOST` that is not a unix socket.
pub fn docker_socket() -> Result<PathBuf, String> {
    match std::env::var("DOCKER_HOST") {
        Ok(v) if !v.trim().is_empty() => match v.trim().strip_prefix("unix://") {
            Some(path) => Ok(PathBuf::from(path)),
            None => Err(v),
        },
        _ => Ok(PathBuf::from("/var/run/docker.sock")),
    }
}

/// True when something accepts connections on the unix socket at `path`.
fn socket_reachable(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

/// True when binding `addr` fails because another socket holds it (not for lack of privileges).
pub fn tcp_in_use(addr: SocketAddr) -> bool {
    matches!(TcpListener::bind(addr), Err(e) if e.kind() == ErrorKind::AddrInUse)
}

/// True when binding `addr` for UDP fails because another socket holds it.
pub fn udp_in_use(addr: SocketAddr) -> bool {
    matches!(UdpSocket::bind(addr), Err(e) if e.kind() == ErrorKind::AddrInUse)
}

/// What the checks look at besides the configuration.
#[derive(Debug, Default)]
pub struct Context {
    /// The compose file to inspect (`--compose-file`, else `./docker-compose.yml` when it exists).
    pub compose_file: Option<PathBuf>,
    /// The configuration describes a container that `skyport start --docker` creates from this host:
    /// the host's ports are checked by the caller, the socket is the host's.
    pub docker_mode: bool,
    /// Check that the gateway and DNS ports are free (off for a Skyport that is already serving).
    pub check_ports: bool,
}

/// Every machine finding for `config`.
pub fn check(config: &Config, ctx: &Context) -> Vec<String> {
    let mut warnings = Vec::new();
    warnings.extend(docker_socket_warning(config, ctx));
    if ctx.check_ports && !ctx.docker_mode {
        warnings.extend(port_warnings(config));
    }
    warnings.extend(localstack_host_warning(config, ctx));
    if let Some(file) = &ctx.compose_file {
        warnings.extend(compose_file_warnings(file));
    }
    if config.in_container && !ctx.docker_mode {
        warnings.extend(volume_warning(config));
    }
    warnings
}

/// The compose file to inspect: the given one, else `./docker-compose.yml` or `./compose.yaml` when present.
pub fn compose_file(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = given {
        return Some(p.to_owned());
    }
    [
        "docker-compose.yml",
        "docker-compose.yaml",
        "compose.yaml",
        "compose.yml",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Services that start containers and so need the Docker socket.
const NEEDS_DOCKER: &[&str] = &["lambda", "ecs", "batch"];

fn docker_socket_warning(config: &Config, ctx: &Context) -> Option<String> {
    // Only services named explicitly: "all" means the implemented ones, none of which needs Docker yet.
    let services = config.services.as_ref()?;
    let service = NEEDS_DOCKER.iter().find(|s| services.contains(**s))?;
    let socket = match docker_socket() {
        Ok(path) => path,
        Err(host) => {
            return Some(format!(
                "SERVICES enables {service}, which runs containers through Docker, but DOCKER_HOST={host} is not \
                 a unix socket; Skyport talks to Docker over a unix socket only. Set DOCKER_HOST=unix:///path/to/docker.sock."
            ));
        }
    };
    if socket_reachable(&socket) {
        return None;
    }
    let fix = if config.in_container && !ctx.docker_mode {
        "mount the host's socket into this container: `-v /var/run/docker.sock:/var/run/docker.sock` \
         (compose: under volumes), as the drop-in compose file does"
    } else {
        "start Docker, make the socket accessible to this user (the docker group), or point DOCKER_HOST at it"
    };
    Some(format!(
        "SERVICES enables {service}, which runs containers through Docker, but the Docker socket {} is not \
         reachable{}: {fix}.",
        socket.display(),
        if config.in_container && !ctx.docker_mode {
            " in this container"
        } else {
            ""
        }
    ))
}

fn port_warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    for addr in config.gateway_listen.iter().filter(|a| a.port() != 0) {
        if tcp_in_use(*addr) {
            warnings.push(format!(
                "GATEWAY_LISTEN includes {addr}, which is already in use (another Skyport or LocalStack? see \
                 `skyport status` and `docker ps`). Stop it (`skyport stop`) or choose another port with \
                 GATEWAY_LISTEN."
            ));
        }
    }
    if let Some(ip) = config.dns.address.filter(|_| config.dns.port != 0) {
        let addr = SocketAddr::new(ip, config.dns.port);
        if udp_in_use(addr) || tcp_in_use(addr) {
            warnings.push(format!(
                "the DNS server wants {addr}, which is already in use (systemd-resolved, dnsmasq or another \
                 Skyport?). Set DNS_PORT (e.g. 5353), DNS_ADDRESS to a free address, or DNS_ADDRESS=0 to turn \
                 Skyport's DNS off."
            ));
        }
    }
    warnings
}

/// Names Skyport's own DNS answers with its address, so resolving them elsewhere proves nothing.
fn skyport_answers(config: &Config, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    under("localhost.localstack.cloud")
        || (config.dns.aws_names
            && [
                "amazonaws.com",
                "amazonaws.com.cn",
                "api.aws",
                "aws.amazon.com",
                "on.aws",
            ]
            .iter()
            .any(|d| under(d)))
}

/// True when `ip` leads to this Skyport: loopback (natively, or through ports `start --docker` publishes
/// on 127.0.0.1), or an address of this host.
fn leads_here(ip: IpAddr) -> bool {
    ip.is_loopback() || UdpSocket::bind((ip, 0)).is_ok()
}

fn localstack_host_warning(config: &Config, ctx: &Context) -> Option<String> {
    let host = config.localstack_host.host.trim_matches(['[', ']']);
    if host.eq_ignore_ascii_case("localhost") || skyport_answers(config, host) {
        return None;
    }
    // Inside a container the right address is the container's own on some network; only the host can
    // judge names from the outside.
    if config.in_container && !ctx.docker_mode {
        return None;
    }
    let fix = format!(
        "Use the default localhost.localstack.cloud:{} (Skyport's DNS answers it; publicly it is 127.0.0.1), \
         or add the name to /etc/hosts",
        config.localstack_host.port
    );
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        // The system resolver, for a name Skyport does not answer itself.
        Err(_) => match (host, config.localstack_host.port).to_socket_addrs() {
            Ok(a) => a.map(|a| a.ip()).collect(),
            Err(e) => {
                return Some(format!(
                    "LOCALSTACK_HOST={} does not resolve ({e}), so the URLs Skyport returns (SQS queue URLs, \
                     S3 locations) lead nowhere. {fix}.",
                    config.localstack_host
                ));
            }
        },
    };
    if addrs.iter().any(|ip| leads_here(*ip)) {
        return None;
    }
    let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    Some(format!(
        "LOCALSTACK_HOST={} leads to {}, which is not this host, so the URLs Skyport returns (SQS queue URLs, \
         S3 locations) reach something else. {fix}.",
        config.localstack_host,
        list.join(", ")
    ))
}

fn compose_file_warnings(file: &Path) -> Vec<String> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            return vec![format!(
                "cannot read the compose file {}: {e}",
                file.display()
            )];
        }
    };
    compose_wildcard_ports(&text)
        .into_iter()
        .map(|entry| {
            format!(
                "{} publishes port {entry} on every interface: Skyport accepts unauthenticated requests, so \
                 anyone on your network can use it. Prefix it with 127.0.0.1: (e.g. \"127.0.0.1:4566:4566\") \
                 unless other machines must reach it.",
                file.display()
            )
        })
        .collect()
}

/// The `ports:` entries of a compose file that publish on every interface (no host IP, `0.0.0.0` or
/// `::`), short (`"4566:4566"`) and long (`published:` without `host_ip:`) syntax. A line scanner, not a
/// YAML parser: it reads the forms compose files use for ports.
pub fn compose_wildcard_ports(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut ports_indent: Option<usize> = None;
    // A long-syntax item being read: its published port and host IP.
    let mut long: Option<(Option<String>, Option<String>)> = None;
    let finish = |long: &mut Option<(Option<String>, Option<String>)>, found: &mut Vec<String>| {
        if let Some((Some(published), host_ip)) = long.take() {
            if host_ip.as_deref().is_none_or(is_wildcard) {
                found.push(published);
            }
        }
    };
    for raw in text.lines() {
        let line = strip_comment(raw);
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let content = line.trim();
        if let Some(pi) = ports_indent {
            if indent <= pi {
                finish(&mut long, &mut found);
                ports_indent = None;
            } else {
                if let Some(item) = content
                    .strip_prefix("- ")
                    .or((content == "-").then_some(""))
                {
                    finish(&mut long, &mut found);
                    let item = item.trim();
                    if item.contains(": ") || item.ends_with(':') {
                        long = Some((None, None));
                        read_long_key(item, &mut long);
                    } else if !item.is_empty() {
                        let entry = unquote(item);
                        if short_entry_is_wildcard(entry) {
                            found.push(entry.to_owned());
                        }
                    }
                } else {
                    read_long_key(content, &mut long);
                }
                continue;
            }
        }
        if content == "ports:" {
            ports_indent = Some(indent);
        } else if let Some(list) = content
            .strip_prefix("ports:")
            .map(str::trim)
            .and_then(|l| l.strip_prefix('['))
            .and_then(|l| l.strip_suffix(']'))
        {
            // Flow style: ports: [ "127.0.0.1:1:1", "2:2" ]
            for entry in list.split(',').map(unquote).filter(|e| !e.is_empty()) {
                if short_entry_is_wildcard(entry) {
                    found.push(entry.to_owned());
                }
            }
        }
    }
    finish(&mut long, &mut found);
    found
}

fn read_long_key(content: &str, long: &mut Option<(Option<String>, Option<String>)>) {
    let Some((published, host_ip)) = long.as_mut() else {
        return;
    };
    if let Some((key, value)) = content.split_once(':') {
        let value = unquote(value.trim()).to_owned();
        match key.trim() {
            "published" => *published = Some(value),
            "host_ip" => *host_ip = Some(value),
            _ => {}
        }
    }
}

fn strip_comment(line: &str) -> &str {
    // A `#` starts a comment at the line start or after white space (not inside "a#b").
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches(['"', '\''])
}

fn is_wildcard(ip: &str) -> bool {
    matches!(ip.trim_matches(['[', ']']), "" | "0.0.0.0" | "::")
}

/// `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`: true when no host IP (or a wildcard) is given.
fn short_entry_is_wildcard(entry: &str) -> bool {
    let entry = entry.split('/').next().unwrap_or(entry);
    if let Some(rest) = entry.strip_prefix('[') {
        // [ipv6]:host:container
        return rest.split_once(']').is_none_or(|(ip, _)| is_wildcard(ip));
    }
    let parts: Vec<&str> = entry.split(':').collect();
    match parts.len() {
        0..=2 => true,
        3 => is_wildcard(parts[0]),
        // A bare IPv6 host IP: everything before the last two parts.
        n => is_wildcard(&parts[..n - 2].join(":")),
    }
}

/// `PERSISTENCE=1` in a container whose state directory is not a mount: the state dies with the container.
fn volume_warning(config: &Config) -> Option<String> {
    if !config.persistence {
        return None;
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let dir = config.state_dir.to_string_lossy();
    let mounted = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .any(|mount_point| mount_point == dir);
    (!mounted).then(|| {
        format!(
            "PERSISTENCE=1, but the state directory {dir} is not a volume: the state is lost when the container \
             is removed. Mount one: `-v ./volume:{dir}` (compose: \"${{LOCALSTACK_VOLUME_DIR:-./volume}}:{dir}\")."
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_ports_on_every_interface() {
        let text = r#"
services:
  localstack:
    ports:
      - "127.0.0.1:4566:4566"   # fine
      - "4510-4559:4510-4559"   # every interface
      - 443:443
      - "0.0.0.0:53:53/udp"
      - "[::1]:8080:80"
      - "9000"
      - target: 4567
        published: "4567"
      - target: 4568
        published: 4568
        host_ip: 127.0.0.1
    environment:
      - "PORTS=1:2"
  other:
    ports: [ "127.0.0.1:2:2", "1:1" ]
"#;
        assert_eq!(
            compose_wildcard_ports(text),
            vec![
                "4510-4559:4510-4559",
                "443:443",
                "0.0.0.0:53:53/udp",
                "9000",
                "4567",
                "1:1"
            ]
        );
        assert!(compose_wildcard_ports("ports:\n  - \"127.0.0.1:1:1\"\n").is_empty());
    }

    #[test]
    fn short_entries() {
        assert!(short_entry_is_wildcard("4566:4566"));
        assert!(short_entry_is_wildcard(":::4566:4566"));
        assert!(!short_entry_is_wildcard("::1:4566:4566"));
        assert!(!short_entry_is_wildcard("127.0.0.1::4566"));
        assert!(short_entry_is_wildcard("[::]:1:1"));
    }
}
