//! HTTP bodies as services see them: one boxed, streaming body type for requests and responses, so the
//! proxy never buffers a body a service wants to stream, and tests can build requests from bytes.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};

/// The error type carried by bodies (hyper's, an I/O error, or a size limit).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streaming HTTP body.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Wraps any body whose error converts into [`BoxError`].
pub fn wrap<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(|e| -> BoxError { e.into() }).boxed_unsync()
}

/// Why a body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is longer than the caller allows.
    #[error("request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The client went away or sent a broken body.
    #[error("could not read the request body: {0}")]
    Read(BoxError),
}

/// Reads a whole body into memory, failing once it exceeds `limit` bytes. For small control-plane bodies
/// (forms, JSON documents) only; object data must stay streaming.
pub async fn collect_limited(mut body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut single: Option<Bytes> = None;
    let mut joined: Option<bytes::BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Read)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total > limit {
            return Err(BodyError::TooLarge { limit });
        }
        match (&mut single, &mut joined) {
            (None, None) => single = Some(data),
            (Some(first), None) => {
                let mut buf = bytes::BytesMut::with_capacity(total.max(first.len() * 2));
                buf.extend_from_slice(first);
                buf.extend_from_slice(&data);
                single = None;
                joined = Some(buf);
            }
            (_, Some(buf)) => buf.extend_from_slice(&data),
        }
    }
    Ok(match (single, joined) {
        (_, Some(buf)) => buf.freeze(),
        (Some(one), None) => one,
        (None, None) => Bytes::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn collects_within_the_limit() {
        let chunks = futures_stream(vec![&b"ab"[..], &b"cd"[..], &b"e"[..]]);
        assert_eq!(
            collect_limited(chunks, 5).await.unwrap(),
            Bytes::from_static(b"abcde")
        );
        let chunks = futures_stream(vec![&b"ab"[..], &b"cd"[..]]);
        assert!(matches!(
            collect_limited(chunks, 3).await,
            Err(BodyError::TooLarge { limit: 3 })
        ));
        assert_eq!(
            collect_limited(full("x"), 1).await.unwrap(),
            Bytes::from_static(b"x")
        );
        assert!(collect_limited(empty(), 0).await.unwrap().is_empty());
    }

    fn futures_stream(chunks: Vec<&'static [u8]>) -> Body {
        let frames: Vec<Result<http_body::Frame<Bytes>, BoxError>> = chunks
            .into_iter()
            .map(|c| Ok(http_body::Frame::data(Bytes::from_static(c))))
            .collect();
        http_body_util::StreamBody::new(StreamIter(frames.into_iter())).boxed_unsync()
    }

    struct StreamIter<I>(I);

    impl<I: Iterator + Unpin> futures_core_stream::Stream for StreamIter<I> {
        type Item = I::Item;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<I::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }

    use futures_util::stream as futures_core_stream;
}
