//! A small, allocation-light XML writer for response bodies. Services describe the document with
//! `start`/`leaf`/`end`; text is escaped here, in one place.

use std::fmt::Write;

/// Builds an XML document as a string.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// A document without an XML declaration (the query protocol's responses have none).
    pub fn new() -> XmlWriter {
        XmlWriter {
            out: String::with_capacity(512),
        }
    }

    /// A document starting with `<?xml version="1.0" encoding="UTF-8"?>` (REST-XML responses).
    pub fn with_declaration() -> XmlWriter {
        let mut writer = XmlWriter::new();
        writer
            .out
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        writer
    }

    /// Opens `<tag>`.
    pub fn start(&mut self, tag: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// Opens `<tag xmlns="namespace">`.
    pub fn start_ns(&mut self, tag: &str, namespace: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push_str(" xmlns=\"");
        escape_into(&mut self.out, namespace);
        self.out.push_str("\">");
        self
    }

    /// Closes `</tag>`.
    pub fn end(&mut self, tag: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// Writes `<tag>text</tag>` with `text` escaped.
    pub fn leaf(&mut self, tag: &str, text: &str) -> &mut Self {
        self.start(tag);
        escape_into(&mut self.out, text);
        self.end(tag)
    }

    /// Writes the leaf only when `text` is present.
    pub fn opt_leaf(&mut self, tag: &str, text: Option<&str>) -> &mut Self {
        if let Some(text) = text {
            self.leaf(tag, text);
        }
        self
    }

    /// Writes an empty element `<tag/>`.
    pub fn empty(&mut self, tag: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push_str("/>");
        self
    }

    /// Appends already-escaped markup as it is.
    pub fn raw(&mut self, markup: &str) -> &mut Self {
        self.out.push_str(markup);
        self
    }

    /// The finished document.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Appends `text` to `out` with the five XML special characters escaped (and control characters other than
/// tab, newline and carriage return written as character references, as AWS does).
pub fn escape_into(out: &mut String, text: &str) {
    // Copy runs of ordinary characters in one go; only the rare special ones are replaced one by one.
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !SPECIAL[b as usize] {
            continue;
        }
        let replacement = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            b'\r' => "&#13;",
            _ => "",
        };
        out.push_str(&text[start..i]);
        if replacement.is_empty() {
            let _ = write!(out, "&#{b};");
        } else {
            out.push_str(replacement);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

/// Bytes [`escape_into`] replaces: the five XML specials and control characters but tab and newline.
const SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b != b'\t' as usize && b != b'\n' as usize;
        b += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'"' as usize] = true;
    table[b'\'' as usize] = true;
    table
};

/// `text` with XML special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_escapes() {
        let mut w = XmlWriter::with_declaration();
        w.start_ns("R", "https://x/")
            .leaf("A", "a<b&\"c'")
            .opt_leaf("B", None)
            .empty("C")
            .end("R");
        assert_eq!(
            w.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R xmlns=\"https://x/\"><A>a&lt;b&amp;&quot;c&apos;</A><C/></R>"
        );
        assert_eq!(escape("\u{1}\r\n"), "&#1;&#13;\n");
        assert_eq!(escape("\ttab \u{1f}é>"), "\ttab &#31;é&gt;");
    }
}
