//! Fuzz target: an `aws-chunked` body, fed to the decoder in pieces whose sizes come from the input, so
//! chunk headers, data and trailers are split at every kind of boundary.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use skyport_s3::chunked::ChunkDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut decoder = ChunkDecoder::new();
    let mut out = Vec::new();
    for piece in body.chunks(step) {
        if decoder
            .push(Bytes::copy_from_slice(piece), &mut out)
            .is_err()
        {
            return;
        }
    }
    let _ = decoder.finish();
});
