//! Page tokens of queries and scans: opaque to most clients, but API layers (the DynamoDB
//! one turns a `LastEvaluatedKey` into a token and back) need their format, so it lives here
//! beside the other wire formats.
//!
//! `[2][kind][node: u64 BE][shard: u32 BE][resume key]`, kind 1 = query, 2 = scan. The
//! resume key is an encoded `ItemKey`, the last key examined; the next page starts after it.
//! Queries carry node 0 and shard 0 (a partition lives on one shard of each replica).

const TOKEN_VERSION: u8 = 2;
/// The kind byte of a query's token.
pub const KIND_QUERY: u8 = 1;
/// The kind byte of a scan's token.
pub const KIND_SCAN: u8 = 2;
const HEADER_BYTES: usize = 14;
/// A scan token's node when the scan resumes after a key the client names (DynamoDB's
/// `ExclusiveStartKey`): the node is the key's first live replica, the shard the key's.
pub const NODE_OF_KEY: u64 = u64::MAX;

/// A decoded page token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageToken {
    /// [`KIND_QUERY`] or [`KIND_SCAN`].
    pub kind: u8,
    /// The node to continue on (scans; 0 = the first live node).
    pub node: u64,
    /// The shard to continue on (scans).
    pub shard: u32,
    /// Resume after this encoded key (none: from the start of the shard's range).
    pub resume_after: Option<Vec<u8>>,
}

impl PageToken {
    /// A query token resuming after the encoded item key `key`.
    pub fn query_after(key: Vec<u8>) -> PageToken {
        PageToken { kind: KIND_QUERY, node: 0, shard: 0, resume_after: Some(key) }
    }

    /// A scan token resuming after the encoded item key `key`, on the node and shard that
    /// return it (see [`NODE_OF_KEY`]).
    pub fn scan_after(key: Vec<u8>) -> PageToken {
        PageToken { kind: KIND_SCAN, node: NODE_OF_KEY, shard: 0, resume_after: Some(key) }
    }

    /// The token's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let key_len = self.resume_after.as_ref().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(HEADER_BYTES + key_len);
        out.extend_from_slice(&[TOKEN_VERSION, self.kind]);
        out.extend_from_slice(&self.node.to_be_bytes());
        out.extend_from_slice(&self.shard.to_be_bytes());
        if let Some(key) = &self.resume_after {
            out.extend_from_slice(key);
        }
        out
    }

    /// Parses a token, checking it is of `kind`; `None` if it is not a token of that kind.
    pub fn decode(bytes: &[u8], kind: u8) -> Option<PageToken> {
        let (head, rest) = bytes.split_at_checked(HEADER_BYTES)?;
        let (tag, numbers) = head.split_at(2);
        if tag != [TOKEN_VERSION, kind] {
            return None;
        }
        let (node, shard) = numbers.split_at(8);
        let node = u64::from_be_bytes(node.try_into().ok()?);
        let shard = u32::from_be_bytes(shard.try_into().ok()?);
        let resume_after = if rest.is_empty() { None } else { Some(rest.to_vec()) };
        Some(PageToken { kind, node, shard, resume_after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_the_wrong_kind() {
        let t = PageToken { kind: KIND_SCAN, node: 7, shard: 3, resume_after: Some(vec![1, 2]) };
        assert_eq!(PageToken::decode(&t.encode(), KIND_SCAN), Some(t.clone()));
        assert_eq!(PageToken::decode(&t.encode(), KIND_QUERY), None);
        assert_eq!(PageToken::decode(&[2, 2, 0], KIND_SCAN), None);
        let q = PageToken::query_after(vec![9]);
        assert_eq!(PageToken::decode(&q.encode(), KIND_QUERY).unwrap().resume_after, Some(vec![9]));
        let empty = PageToken { kind: KIND_QUERY, node: 0, shard: 0, resume_after: None };
        assert_eq!(PageToken::decode(&empty.encode(), KIND_QUERY), Some(empty));
    }
}
