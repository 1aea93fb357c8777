//! Where a request goes: the node that is its key's first replica, and on that node the
//! shard (core) that owns the key; or a seed node.
//!
//! A node advertises in [`ClusterInfo`] its shard map and the cluster's ring (every vnode
//! token with the address of the node that owns it). The client trusts a shard map only when
//! the node names the functions this build implements (`xxh3-64` tokens, `ignore-msb`
//! sharding with 12 bits, the ones in [`shoal_types::partitioner`]); otherwise requests go to
//! the node's main address (or a seed's) and the node forwards them, which is correct, one
//! hop slower.
//!
//! [`Topology`] is the ring as the client sees it: a key with token `t` belongs to the first
//! vnode whose token is `>= t` (wrapping to the smallest), and its replicas are that vnode's
//! node and the next distinct nodes clockwise, the same rule as `shoal_cluster::ring`.
//!
//! Only requests on one partition key are routed: get, put, delete and update, and a query
//! whose key condition names its partition key value plainly (`pk = :v`). Their key's
//! partition attribute is found by the table's key schema, which the client describes once
//! per table and caches ([`TableKeys`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use shoal_net::{ClusterInfo, Item, Placeholders, QueryRequest, Request};
use shoal_types::partitioner::{shard_of, SHARDS_MAX, SHARD_IGNORE_MSB_BITS};
use shoal_types::KeyValue;

use crate::error::ClientError;

/// The token function this client implements, as a node names it.
pub(crate) const PARTITIONER: &str = "xxh3-64";
/// The shard function this client implements, as a node names it.
pub(crate) const SHARDING: &str = "ignore-msb";

/// A node's shard addresses, indexed by shard number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShardMap {
    /// Never empty, at most [`SHARDS_MAX`] long.
    addresses: Vec<String>,
}

impl ShardMap {
    /// The shard map of `info`, if the node's functions are ours and its shards are numbered
    /// `0..n`. `seed` is the address the info came from: an advertised wildcard host
    /// (`0.0.0.0`, `::`) is replaced by the seed's host.
    pub(crate) fn from_cluster_info(info: &ClusterInfo, seed: &str) -> Option<ShardMap> {
        let ours = info.partitioner == PARTITIONER
            && info.sharding == SHARDING
            && u32::from(info.sharding_ignore_msb) == SHARD_IGNORE_MSB_BITS;
        if !ours || info.shards.is_empty() || info.shards.len() > SHARDS_MAX as usize {
            return None;
        }
        let mut shards = info.shards.clone();
        shards.sort_by_key(|(shard, _)| *shard);
        let numbered = shards.iter().enumerate().all(|(i, (shard, _))| *shard as usize == i);
        if !numbered {
            return None;
        }
        let addresses = shards.into_iter().map(|(_, address)| reachable(&address, seed)).collect();
        Some(ShardMap { addresses })
    }

    /// Every shard's address, shard 0 first.
    pub(crate) fn addresses(&self) -> &[String] {
        &self.addresses
    }

    /// The address of the shard that owns `token`.
    pub(crate) fn address_of_token(&self, token: u64) -> Option<&str> {
        let count = u32::try_from(self.addresses.len()).ok()?;
        let shard = shard_of(token, count);
        self.addresses.get(shard as usize).map(String::as_str)
    }
}

/// The cluster's ring as a node advertised it: which node owns which vnode tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Topology {
    /// Vnode tokens, ascending and distinct, each with the index of its node in `nodes`.
    vnodes: Vec<(u64, usize)>,
    /// The distinct node addresses, in order of first appearance.
    nodes: Vec<String>,
}

impl Topology {
    /// The topology of an advertised ring (`(token, node address)` pairs, in any order).
    pub(crate) fn from_ring(ring: &[(u64, String)]) -> Topology {
        let mut nodes: Vec<String> = Vec::new();
        let mut vnodes: Vec<(u64, usize)> = Vec::with_capacity(ring.len());
        for (token, address) in ring {
            let index = match nodes.iter().position(|n| n == address) {
                Some(index) => index,
                None => {
                    nodes.push(address.clone());
                    nodes.len() - 1
                }
            };
            vnodes.push((*token, index));
        }
        vnodes.sort_unstable();
        // Two nodes never share a token (the node refuses that ring), but a list that says
        // otherwise must not make routing depend on the order it came in.
        vnodes.dedup_by_key(|(token, _)| *token);
        Topology { vnodes, nodes }
    }

    /// The distinct node addresses.
    pub(crate) fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// True if the ring names more than one node: only then does the client route by token
    /// across nodes; a single node's shard map comes from the seed itself.
    pub(crate) fn is_multi_node(&self) -> bool {
        self.nodes.len() > 1
    }

    /// The node that owns the vnode `token` (exactly) belongs to, if any.
    pub(crate) fn owner_of_vnode(&self, token: u64) -> Option<&str> {
        let at = self.vnodes.binary_search_by_key(&token, |(t, _)| *t).ok()?;
        let (_, node) = self.vnodes.get(at)?;
        self.nodes.get(*node).map(String::as_str)
    }

    /// The first `count` distinct nodes clockwise from `token` (the replicas of a table with
    /// that replication factor), primary first. Fewer if the ring has fewer nodes.
    pub(crate) fn replicas(&self, token: u64, count: usize) -> Vec<String> {
        let want = count.min(self.nodes.len());
        let mut chosen: Vec<usize> = Vec::with_capacity(want);
        let start = self.vnodes.partition_point(|(t, _)| *t < token);
        let (before, after) = self.vnodes.split_at(start.min(self.vnodes.len()));
        for (_, node) in after.iter().chain(before) {
            if chosen.len() >= want {
                break;
            }
            if !chosen.contains(node) {
                chosen.push(*node);
            }
        }
        chosen.iter().filter_map(|i| self.nodes.get(*i).cloned()).collect()
    }
}

/// `address` with a wildcard IP replaced by the host of `seed`.
fn reachable(address: &str, seed: &str) -> String {
    let Ok(parsed) = address.parse::<SocketAddr>() else { return address.to_owned() };
    if !parsed.ip().is_unspecified() {
        return address.to_owned();
    }
    match seed.rsplit_once(':') {
        Some((host, _)) => format!("{host}:{}", parsed.port()),
        None => address.to_owned(),
    }
}

/// Where a single-partition request names its partition key.
pub(crate) enum Keyed<'a> {
    /// In a key or item: it must be there.
    Item(&'a Item),
    /// In a query's key condition: routed only if it is found plainly.
    Query(&'a QueryRequest),
}

/// The table of a request on one partition, and where its partition key is.
pub(crate) fn single_partition(request: &Request) -> Option<(&str, Keyed<'_>)> {
    match request {
        Request::GetItem { table, key, .. }
        | Request::DeleteItem { table, key, .. }
        | Request::UpdateItem { table, key, .. } => Some((table, Keyed::Item(key))),
        Request::PutItem { table, item, .. } => Some((table, Keyed::Item(item))),
        Request::Query(query) => Some((&query.table, Keyed::Query(query))),
        _ => None,
    }
}

/// The partition key value a query's key condition sets with a plain `name = :value` term
/// (`name` may be a `#placeholder`), `None` if there is no such term. Only a routing hint: a
/// query sent elsewhere is forwarded by the node, so this never parses more than it must.
pub(crate) fn query_partition(query: &QueryRequest, name: &str) -> Option<KeyValue> {
    let mut term = String::new();
    let words = query.key_condition.split_whitespace().chain(std::iter::once("AND"));
    for word in words {
        if !word.eq_ignore_ascii_case("and") {
            term.push_str(word);
            term.push(' ');
            continue;
        }
        if let Some(value) = equality_value(&term, name, &query.placeholders) {
            return Some(value);
        }
        term.clear();
    }
    None
}

/// The value of a `name = :value` term, if `term` is one.
fn equality_value(term: &str, name: &str, placeholders: &Placeholders) -> Option<KeyValue> {
    let term = term.trim().trim_start_matches('(').trim_end_matches(')');
    let (left, right) = term.split_once('=')?;
    let (left, right) = (left.trim(), right.trim());
    let plain =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "_#:.-".contains(c));
    if !plain(left) || !plain(right) || !right.starts_with(':') {
        return None;
    }
    let attribute = if left.starts_with('#') { placeholders.names.get(left)? } else { left };
    if attribute != name {
        return None;
    }
    KeyValue::try_from(placeholders.values.get(right)?.clone()).ok()
}

/// The partition key value of `key`, whose attribute `name` the table's schema names.
///
/// # Errors
/// [`ClientError::InvalidArgument`] if the attribute is missing or not a string, number or
/// binary.
pub(crate) fn partition_value(
    table: &str,
    key: &Item,
    name: &str,
) -> Result<KeyValue, ClientError> {
    let value = key.get(name).ok_or_else(|| {
        ClientError::InvalidArgument(format!(
            "the key for table {table:?} lacks its partition key attribute {name:?}"
        ))
    })?;
    KeyValue::try_from(value.clone()).map_err(|error| {
        ClientError::InvalidArgument(format!("partition key {name:?} of table {table:?}: {error}"))
    })
}

/// What routing needs of a table's schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableKey {
    /// The partition key attribute.
    pub(crate) partition_key: String,
    /// Replicas per item: how many nodes a request may fall back to before a seed.
    pub(crate) replication_factor: usize,
}

/// Partition key attributes and replication factors by table, learnt from descriptions.
#[derive(Debug, Default)]
pub(crate) struct TableKeys {
    names: Mutex<HashMap<String, TableKey>>,
}

impl TableKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, TableKey>> {
        self.names.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn get(&self, table: &str) -> Option<TableKey> {
        self.lock().get(table).cloned()
    }

    pub(crate) fn insert(&self, table: &str, partition_key: &str, replication_factor: u8) {
        let key = TableKey {
            partition_key: partition_key.to_owned(),
            replication_factor: usize::from(replication_factor).max(1),
        };
        self.lock().insert(table.to_owned(), key);
    }

    pub(crate) fn forget(&self, table: &str) {
        self.lock().remove(table);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::partitioner::token;
    use shoal_types::Value;

    fn info(shards: Vec<(u32, &str)>) -> ClusterInfo {
        ClusterInfo {
            partitioner: PARTITIONER.into(),
            sharding: SHARDING.into(),
            sharding_ignore_msb: 12,
            shards: shards.into_iter().map(|(s, a)| (s, a.to_owned())).collect(),
            ..ClusterInfo::default()
        }
    }

    #[test]
    fn accepts_only_our_functions_and_dense_shards() {
        let good = info(vec![(1, "h:2"), (0, "h:1")]);
        let map = ShardMap::from_cluster_info(&good, "h:0").unwrap();
        assert_eq!(map.addresses, vec!["h:1".to_owned(), "h:2".to_owned()]);
        let mut other = good.clone();
        other.partitioner = "murmur3".into();
        assert!(ShardMap::from_cluster_info(&other, "h:0").is_none());
        let mut other = good.clone();
        other.sharding_ignore_msb = 0;
        assert!(ShardMap::from_cluster_info(&other, "h:0").is_none());
        assert!(ShardMap::from_cluster_info(&info(vec![(0, "a"), (2, "b")]), "h:0").is_none());
        assert!(ShardMap::from_cluster_info(&info(vec![]), "h:0").is_none());
    }

    #[test]
    fn wildcard_hosts_take_the_seed_host() {
        let map = ShardMap::from_cluster_info(&info(vec![(0, "0.0.0.0:7401")]), "db1:7400");
        assert_eq!(map.unwrap().addresses, vec!["db1:7401".to_owned()]);
    }

    #[test]
    fn routes_by_shard_of_token() {
        let map = ShardMap::from_cluster_info(&info(vec![(0, "a:1"), (1, "b:2")]), "s:0").unwrap();
        for i in 0..50 {
            let key = KeyValue::S(format!("k{i}"));
            let expected = if shard_of(token(&key), 2) == 0 { "a:1" } else { "b:2" };
            assert_eq!(map.address_of_token(token(&key)), Some(expected));
        }
    }

    #[test]
    fn partition_value_checks_presence_and_type() {
        let mut key = Item::new();
        assert!(matches!(partition_value("t", &key, "pk"), Err(ClientError::InvalidArgument(_))));
        key.insert("pk".into(), shoal_types::Value::Bool(true));
        assert!(matches!(partition_value("t", &key, "pk"), Err(ClientError::InvalidArgument(_))));
        key.insert("pk".into(), shoal_types::Value::S("x".into()));
        assert_eq!(partition_value("t", &key, "pk").unwrap(), KeyValue::S("x".into()));
    }

    fn ring(pairs: &[(u64, &str)]) -> Topology {
        let pairs: Vec<(u64, String)> = pairs.iter().map(|(t, a)| (*t, (*a).to_owned())).collect();
        Topology::from_ring(&pairs)
    }

    #[test]
    fn replicas_start_at_the_first_vnode_at_or_after_the_token_and_wrap() {
        let topology = ring(&[(300, "c"), (100, "a"), (200, "b"), (250, "a"), (400, "b")]);
        assert!(topology.is_multi_node());
        assert_eq!(topology.nodes(), ["c", "a", "b"]);
        assert_eq!(topology.replicas(100, 1), ["a"]);
        assert_eq!(topology.replicas(101, 3), ["b", "a", "c"]);
        assert_eq!(topology.replicas(260, 2), ["c", "b"]);
        assert_eq!(topology.replicas(401, 2), ["a", "b"], "past the last vnode wraps");
        assert_eq!(topology.replicas(0, 9), ["a", "b", "c"], "capped at the nodes");
        assert_eq!(topology.owner_of_vnode(250), Some("a"));
        assert_eq!(topology.owner_of_vnode(251), None);
        assert!(!ring(&[(1, "a"), (2, "a")]).is_multi_node());
        assert!(ring(&[]).replicas(5, 3).is_empty());
    }

    #[test]
    fn replicas_agree_with_the_cluster_ring() {
        let members: Vec<shoal_cluster::Member> = (1..=4)
            .map(|i| shoal_cluster::Member { id: i * 7919, address: format!("n{i}:7400") })
            .collect();
        let reference = shoal_cluster::Ring::new(members, 8);
        let pairs: Vec<(u64, String)> =
            reference.tokens().map(|(t, m)| (t, m.address.clone())).collect();
        let topology = Topology::from_ring(&pairs);
        for i in 0..500u64 {
            let token = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let expected: Vec<String> =
                reference.replicas(token, 3).iter().map(|m| m.address.clone()).collect();
            assert_eq!(topology.replicas(token, 3), expected);
        }
    }

    #[test]
    fn query_partition_finds_plain_equality_only() {
        let query = |condition: &str| QueryRequest {
            table: "t".into(),
            key_condition: condition.into(),
            placeholders: Placeholders {
                names: [("#k".to_owned(), "pk".to_owned())].into(),
                values: [
                    (":p".to_owned(), Value::S("x".into())),
                    (":a".to_owned(), Value::N("1".parse().unwrap())),
                    (":b".to_owned(), Value::N("2".parse().unwrap())),
                ]
                .into(),
            },
            ..QueryRequest::default()
        };
        let x = Some(KeyValue::S("x".into()));
        assert_eq!(query_partition(&query("pk = :p"), "pk"), x);
        assert_eq!(query_partition(&query("pk=:p"), "pk"), x);
        assert_eq!(query_partition(&query("#k = :p and sk > :a"), "pk"), x);
        assert_eq!(query_partition(&query("sk BETWEEN :a AND :b AND (pk = :p)"), "pk"), x);
        assert_eq!(query_partition(&query("begins_with(sk, :a) AND pk = :p"), "pk"), x);
        assert_eq!(query_partition(&query("sk = :a"), "pk"), None);
        assert_eq!(query_partition(&query("pk = :missing"), "pk"), None);
        assert_eq!(query_partition(&query("pk <= :p"), "pk"), None);
        assert_eq!(query_partition(&query("pk = :p"), "other"), None);
    }
}
