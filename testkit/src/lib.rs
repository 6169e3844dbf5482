//! skyport-testkit: helpers shared by the end-to-end tests of several crates (the binary's `tests/` and
//! `dns/tests/`), so each fixture exists once.
//!
//! - [`dig`]: run the real `dig` and pick its answer apart.
//! - [`netns`]: network namespaces with veth links, for clients with addresses of their own.
#![forbid(unsafe_code)]

pub mod dig;
pub mod netns;
