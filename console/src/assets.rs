//! The console's files, embedded at build time: one HTML page, one stylesheet, one script and an icon.
//! They are plain files under `console/assets/`; editing one and rebuilding is the whole build step.

/// The files: name under `/_skyport/console/`, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../assets/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/style.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../assets/favicon.svg"),
    ),
];

/// The content type and bytes of the file `name`.
pub fn get(name: &str) -> Option<(&'static str, &'static [u8])> {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, content_type, bytes)| (*content_type, *bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_links_only_embedded_files() {
        let (_, page) = super::get("index.html").unwrap();
        let page = std::str::from_utf8(page).unwrap();
        for name in ["app.js", "style.css", "favicon.svg"] {
            assert!(
                page.contains(&format!("/_skyport/console/{name}")),
                "{name}"
            );
            assert!(super::get(name).is_some());
        }
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no CDN"
        );
        assert!(super::get("../Cargo.toml").is_none());
    }
}
