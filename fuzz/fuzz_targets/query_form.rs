//! Fuzz target: query strings and `application/x-www-form-urlencoded` bodies through core's decoder,
//! including the list and structure-list views the query protocol services use.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skyport_core::protocol::Params;

fuzz_target!(|data: &[u8]| {
    let params = Params::parse(data);
    let _ = params.get("Action");
    let _ = params.list("AttributeName");
    let _ = params.struct_list("SendMessageBatchRequestEntry");
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (query, form) = data.split_at(split);
    if let Ok(query) = std::str::from_utf8(query) {
        let params = Params::from_query_and_form(Some(query), form);
        let _ = params.struct_list("Attribute");
        let _ = params.pairs().len();
    }
});
