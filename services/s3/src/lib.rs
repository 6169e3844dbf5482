//! skyport-s3 (work in progress).
