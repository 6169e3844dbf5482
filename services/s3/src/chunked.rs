//! Incremental decoder for `Content-Encoding: aws-chunked` bodies (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`,
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`): `<hex-size>[;chunk-signature=<sig>]\r\n<data>\r\n`
//! repeated, a zero-size chunk, then optional trailer lines (`x-amz-checksum-crc32:<b64>`) and an empty
//! line. Bytes go in as they arrive; decoded data comes out without buffering more than one header line.
//! Chunk signatures are not checked here (Skyport accepts any credentials by default).

use bytes::{Buf, Bytes, BytesMut};
use sha2::{Digest, Sha256};

/// Verifies chunk signatures (strict mode): each chunk signs the previous signature and its data.
#[derive(Debug, Clone)]
pub struct ChunkSigner {
    /// The SigV4 signing key of the request.
    pub key: [u8; 32],
    /// `X-Amz-Date` of the request.
    pub date: String,
    /// The credential scope.
    pub scope: String,
    /// The previous signature (the seed signature at first).
    pub prev: String,
}

impl ChunkSigner {
    fn expect(&mut self, provided: &str, data_hash: &str) -> Result<(), ChunkError> {
        let empty = skyport_core::ids::hex(&Sha256::digest(b""));
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{empty}\n{data_hash}",
            self.date, self.scope, self.prev
        );
        let expected = skyport_core::ids::hex(&crate::sigv4::hmac(&self.key, to_sign.as_bytes()));
        if expected != provided.to_ascii_lowercase() {
            return Err(ChunkError::Signature);
        }
        self.prev = expected;
        Ok(())
    }

    fn expect_trailer(
        &mut self,
        provided: &str,
        trailers: &[(String, String)],
    ) -> Result<(), ChunkError> {
        let mut canonical = String::new();
        for (n, v) in trailers {
            canonical.push_str(&format!("{n}:{v}\n"));
        }
        let to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.date,
            self.scope,
            self.prev,
            skyport_core::ids::hex(&Sha256::digest(canonical.as_bytes()))
        );
        let expected = skyport_core::ids::hex(&crate::sigv4::hmac(&self.key, to_sign.as_bytes()));
        if expected != provided.to_ascii_lowercase() {
            return Err(ChunkError::Signature);
        }
        Ok(())
    }
}

/// Where the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// Why a chunked body is malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    #[error("invalid aws-chunked chunk header")]
    BadHeader,
    #[error("aws-chunked chunk not terminated by CRLF")]
    BadTerminator,
    #[error("aws-chunked body ended early")]
    Truncated,
    #[error("a chunk signature does not match")]
    Signature,
}

/// The decoder.
#[derive(Debug)]
pub struct ChunkDecoder {
    state: State,
    buf: BytesMut,
    trailers: Vec<(String, String)>,
    signer: Option<ChunkSigner>,
    /// The current chunk's signature and the running hash of its data (strict mode).
    chunk_sig: Option<String>,
    chunk_hash: Option<Sha256>,
    trailer_sig: Option<String>,
}

/// Longest chunk header or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;

/// Where the first CRLF starts.
fn find_crlf(data: &[u8]) -> Option<usize> {
    data.windows(2).position(|w| w == b"\r\n")
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        ChunkDecoder::new()
    }
}

impl ChunkDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> ChunkDecoder {
        ChunkDecoder {
            state: State::Size,
            buf: BytesMut::new(),
            trailers: Vec::new(),
            signer: None,
            chunk_sig: None,
            chunk_hash: None,
            trailer_sig: None,
        }
    }

    /// A decoder that also verifies chunk signatures.
    pub fn signed(signer: ChunkSigner) -> ChunkDecoder {
        ChunkDecoder {
            signer: Some(signer),
            ..ChunkDecoder::new()
        }
    }

    fn check_chunk(&mut self, data_hash: String) -> Result<(), ChunkError> {
        if let Some(signer) = self.signer.as_mut() {
            let provided = self.chunk_sig.take().ok_or(ChunkError::Signature)?;
            signer.expect(&provided, &data_hash)?;
        }
        Ok(())
    }

    /// Feeds `input`, pushing decoded data into `out`.
    pub fn push(&mut self, input: Bytes, out: &mut Vec<Bytes>) -> Result<(), ChunkError> {
        let mut input = input;
        loop {
            match self.state {
                State::Data(remaining) => {
                    if input.is_empty() {
                        return Ok(());
                    }
                    let take = remaining.min(input.len() as u64) as usize;
                    let piece = input.split_to(take);
                    if let Some(h) = self.chunk_hash.as_mut() {
                        h.update(&piece);
                    }
                    out.push(piece);
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        if let Some(h) = self.chunk_hash.take() {
                            self.check_chunk(skyport_core::ids::hex(&h.finalize()))?;
                        }
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::Done => return Ok(()),
                _ => {
                    // Line-oriented states. A line is cut from `input` without copying; only a line
                    // split across frames is gathered in `buf`.
                    if self.buf.is_empty() {
                        let Some(pos) = find_crlf(&input) else {
                            if input.is_empty() {
                                return Ok(());
                            }
                            if self.state == State::DataEnd && input[0] != b'\r' {
                                return Err(ChunkError::BadTerminator);
                            }
                            if input.len() > MAX_LINE {
                                return Err(ChunkError::BadHeader);
                            }
                            self.buf.extend_from_slice(&input);
                            return Ok(());
                        };
                        if self.state == State::DataEnd && pos != 0 {
                            return Err(ChunkError::BadTerminator);
                        }
                        let line = input.split_to(pos);
                        input.advance(2);
                        self.line(&line)?;
                        continue;
                    }
                    // The rest of a line begun in an earlier frame (`buf` holds no CRLF).
                    if input.is_empty() {
                        return Ok(());
                    }
                    let old = self.buf.len();
                    let room = (MAX_LINE + 2).saturating_sub(old).min(input.len());
                    self.buf.extend_from_slice(&input[..room]);
                    if self.state == State::DataEnd
                        && self.buf.len() >= 2
                        && &self.buf[..2] != b"\r\n"
                    {
                        return Err(ChunkError::BadTerminator);
                    }
                    let Some(pos) = find_crlf(&self.buf) else {
                        if room < input.len() || self.buf.len() > MAX_LINE {
                            return Err(ChunkError::BadHeader);
                        }
                        return Ok(());
                    };
                    let line = self.buf.split_to(pos);
                    self.buf.clear();
                    input.advance(pos + 2 - old);
                    self.line(&line)?;
                }
            }
        }
    }

    fn line(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        match self.state {
            State::Size => {
                let text = std::str::from_utf8(line).map_err(|_| ChunkError::BadHeader)?;
                let size_part = text.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(size_part, 16).map_err(|_| ChunkError::BadHeader)?;
                if self.signer.is_some() {
                    self.chunk_sig = text
                        .split(';')
                        .skip(1)
                        .find_map(|p| p.trim().strip_prefix("chunk-signature="))
                        .map(str::to_owned);
                    if size == 0 {
                        self.check_chunk(skyport_core::ids::hex(&Sha256::digest(b"")))?;
                    } else {
                        self.chunk_hash = Some(Sha256::new());
                    }
                }
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::Data(size)
                };
            }
            State::DataEnd => {
                if !line.is_empty() {
                    return Err(ChunkError::BadTerminator);
                }
                self.state = State::Size;
            }
            State::Trailers => {
                if line.is_empty() {
                    self.state = State::Done;
                } else {
                    let text = std::str::from_utf8(line).map_err(|_| ChunkError::BadHeader)?;
                    let (name, value) = text.split_once(':').ok_or(ChunkError::BadHeader)?;
                    let name = name.trim().to_ascii_lowercase();
                    if name == "x-amz-trailer-signature" {
                        self.trailer_sig = Some(value.trim().to_owned());
                    } else {
                        self.trailers.push((name, value.trim().to_owned()));
                    }
                }
            }
            State::Data(_) | State::Done => {}
        }
        Ok(())
    }

    /// Ends the body: returns the trailers, or an error when the body stopped mid-way.
    pub fn finish(mut self) -> Result<Vec<(String, String)>, ChunkError> {
        // Clients may omit the final empty line after the trailers.
        if self.state == State::Trailers && !self.buf.is_empty() {
            let line = self.buf.split();
            let text = String::from_utf8_lossy(&line).into_owned();
            if let Some((name, value)) = text.split_once(':') {
                self.trailers
                    .push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
            self.state = State::Done;
        }
        match self.state {
            State::Done | State::Trailers => {}
            _ => return Err(ChunkError::Truncated),
        }
        if let (Some(signer), Some(sig)) = (self.signer.as_mut(), self.trailer_sig.as_deref()) {
            signer.expect_trailer(sig, &self.trailers)?;
        }
        Ok(self.trailers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Decoded = (Vec<u8>, Result<Vec<(String, String)>, ChunkError>);

    fn decode_in_pieces(body: &[u8], piece: usize) -> Decoded {
        let mut d = ChunkDecoder::new();
        let mut out = Vec::new();
        for chunk in body.chunks(piece) {
            d.push(Bytes::copy_from_slice(chunk), &mut out).unwrap();
        }
        (out.concat(), d.finish())
    }

    #[test]
    fn decodes_signed_and_trailer_bodies_in_any_split() {
        let body = b"5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=0\r\n\r\n";
        let trailer = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for piece in [1, 2, 3, 7, 100] {
            let (data, t) = decode_in_pieces(body, piece);
            assert_eq!(data, b"hello world");
            assert!(t.unwrap().is_empty());
            let (data, t) = decode_in_pieces(trailer, piece);
            assert_eq!(data, b"hello");
            assert_eq!(
                t.unwrap(),
                vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
            );
        }
    }

    #[test]
    fn verifies_the_aws_documentation_chunk_signatures() {
        let key = skyport_sigv4::signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524/us-east-1/s3/aws4_request",
        );
        let signer = ChunkSigner {
            key,
            date: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            prev: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        };
        let mut body = Vec::new();
        body.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
        body.extend_from_slice(&[b'a'; 65536]);
        body.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
        for piece in [7usize, 4096, 100_000] {
            let mut d = ChunkDecoder::signed(signer.clone());
            let mut out = Vec::new();
            for c in body.chunks(piece) {
                d.push(Bytes::copy_from_slice(c), &mut out).unwrap();
            }
            assert_eq!(out.concat().len(), 66560);
            d.finish().unwrap();
        }
        let mut tampered = body.clone();
        tampered[200] = b'b';
        let mut d = ChunkDecoder::signed(signer);
        assert_eq!(
            d.push(Bytes::from(tampered), &mut Vec::new()),
            Err(ChunkError::Signature)
        );
    }

    #[test]
    fn rejects_malformed() {
        let (_, t) = decode_in_pieces(b"5\r\nhel", 2);
        assert_eq!(t, Err(ChunkError::Truncated));
        let mut d = ChunkDecoder::new();
        assert_eq!(
            d.push(Bytes::from_static(b"zz\r\n"), &mut Vec::new()),
            Err(ChunkError::BadHeader)
        );
        let mut d = ChunkDecoder::new();
        assert_eq!(
            d.push(Bytes::from_static(b"1\r\nabc"), &mut Vec::new()),
            Err(ChunkError::BadTerminator)
        );
    }
}
