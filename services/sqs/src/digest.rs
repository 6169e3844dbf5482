//! The MD5 digests SQS returns and SDKs verify: of the body (`MD5OfMessageBody`), and of message and
//! system attributes (`MD5OfMessageAttributes`, `MD5OfMessageSystemAttributes`) in AWS's documented binary
//! encoding: for each attribute in name order, the name, the data type, a transport byte (1 for String
//! and Number, 2 for Binary) and the value, each string preceded by its length as a 4-byte big-endian
//! integer.

use std::collections::BTreeMap;

use md5::{Digest, Md5};

use crate::model::MessageAttribute;

/// MD5 of `bytes`.
pub fn md5(bytes: &[u8]) -> [u8; 16] {
    Md5::digest(bytes).into()
}

/// Hex MD5 of `bytes`.
#[cfg(test)]
fn md5_hex(bytes: &[u8]) -> String {
    skyport_core::ids::hex(&md5(bytes))
}

fn put(hasher: &mut Md5, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    hasher.update(len.to_be_bytes());
    hasher.update(bytes);
}

/// Hex MD5 of attributes in AWS's encoding; `None` when there are none.
pub fn attributes_md5<'a>(
    attributes: impl IntoIterator<Item = (&'a String, &'a MessageAttribute)>,
) -> Option<String> {
    let sorted: BTreeMap<&String, &MessageAttribute> = attributes.into_iter().collect();
    if sorted.is_empty() {
        return None;
    }
    let mut hasher = Md5::new();
    for (name, attr) in sorted {
        put(&mut hasher, name.as_bytes());
        put(&mut hasher, attr.data_type.as_bytes());
        match &attr.binary_value {
            Some(binary) if attr.data_type.starts_with("Binary") => {
                hasher.update([2u8]);
                put(&mut hasher, binary);
            }
            _ => {
                hasher.update([1u8]);
                put(
                    &mut hasher,
                    attr.string_value.as_deref().unwrap_or("").as_bytes(),
                );
            }
        }
    }
    Some(skyport_core::ids::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> MessageAttribute {
        MessageAttribute {
            data_type: "String".into(),
            string_value: Some(v.into()),
            binary_value: None,
        }
    }

    #[test]
    fn body_md5() {
        assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
    }

    #[test]
    fn attribute_md5_matches_the_documented_encoding() {
        let mut attrs = BTreeMap::new();
        attrs.insert("a".to_owned(), s("b"));
        // name "a", type "String", transport 1, value "b".
        let mut expected = Vec::new();
        expected.extend_from_slice(&1u32.to_be_bytes());
        expected.extend_from_slice(b"a");
        expected.extend_from_slice(&6u32.to_be_bytes());
        expected.extend_from_slice(b"String");
        expected.push(1);
        expected.extend_from_slice(&1u32.to_be_bytes());
        expected.extend_from_slice(b"b");
        assert_eq!(attributes_md5(&attrs), Some(md5_hex(&expected)));
        assert_eq!(attributes_md5(&BTreeMap::new()), None);
    }
}
