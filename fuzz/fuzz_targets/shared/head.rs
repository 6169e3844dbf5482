//! A request head from fuzz input: `METHOD URI` then `Name: value` lines, separated by CRLF. Shared by
//! the targets that read request heads (`router`, `sigv4`).

/// The head's parts, `None` when the input is not UTF-8 or not a valid request.
pub fn parts(data: &[u8]) -> Option<http::request::Parts> {
    let text = std::str::from_utf8(data).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").splitn(2, ' ');
    let method = first.next().unwrap_or("GET");
    let uri = first.next().unwrap_or("/");
    let mut builder = http::Request::builder().method(method).uri(uri);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            builder = builder.header(name.trim(), value.trim());
        }
    }
    Some(builder.body(()).ok()?.into_parts().0)
}
