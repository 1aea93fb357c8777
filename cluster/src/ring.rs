//! The token ring: each node owns `vnodes` tokens; a token's replicas are the distinct nodes
//! met walking clockwise from it.
//!
//! # Placement rule
//! A key with token `t` belongs to the first vnode whose token is `>= t` (wrapping to the
//! smallest). Its replicas are the owners of that vnode and the following vnodes, skipping
//! nodes already chosen, until `min(RF, nodes in the ring)` distinct nodes are found. A ring
//! smaller than RF therefore still serves the table, with fewer replicas (and a warning at
//! table creation), so a single node serves RF 3 at every consistency level.
//!
//! Vnode tokens are derived from the node id (`xxh3_64` of the id and the vnode index), so a
//! node keeps its tokens across restarts without storing them.

use xxhash_rust::xxh3::xxh3_64;

/// A member of the ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Stable node id.
    pub id: u64,
    /// Native-protocol address.
    pub address: String,
}

/// The ring of one cluster view.
#[derive(Clone, Debug, Default)]
pub struct Ring {
    /// Vnode tokens, ascending, each with the index of its member.
    tokens: Vec<(u64, usize)>,
    members: Vec<Member>,
}

/// The id of a node from its address (used when the config gives none).
pub fn node_id_from_address(address: &str) -> u64 {
    // Never 0: 0 means "a client" in request headers.
    xxh3_64(address.as_bytes()).max(1)
}

/// The `vnodes` tokens of a node.
pub fn vnode_tokens(node_id: u64, vnodes: u32) -> Vec<u64> {
    (0..vnodes)
        .map(|i| {
            let mut bytes = Vec::with_capacity(12);
            bytes.extend_from_slice(&node_id.to_le_bytes());
            bytes.extend_from_slice(&i.to_le_bytes());
            xxh3_64(&bytes)
        })
        .collect()
}

impl Ring {
    /// A ring of `members`, each with `vnodes` tokens.
    pub fn new(members: Vec<Member>, vnodes: u32) -> Ring {
        let mut tokens: Vec<(u64, usize)> = members
            .iter()
            .enumerate()
            .flat_map(|(index, m)| vnode_tokens(m.id, vnodes).into_iter().map(move |t| (t, index)))
            .collect();
        tokens.sort_unstable();
        // Equal tokens from two nodes would make ownership depend on member order; xxh3 of
        // distinct inputs colliding is about 2^-64 per pair, so refuse rather than handle it.
        tokens.dedup_by_key(|(token, _)| *token);
        Ring { tokens, members }
    }

    /// Members of the ring.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Every vnode token with its member.
    pub fn tokens(&self) -> impl Iterator<Item = (u64, &Member)> {
        self.tokens.iter().filter_map(|(t, i)| self.members.get(*i).map(|m| (*t, m)))
    }

    /// How many replicas a table of `replication_factor` really has on this ring.
    pub fn effective_replicas(&self, replication_factor: usize) -> usize {
        replication_factor.min(self.members.len())
    }

    /// The replicas of `token`, primary first.
    pub fn replicas(&self, token: u64, replication_factor: usize) -> Vec<&Member> {
        let want = self.effective_replicas(replication_factor);
        let mut chosen: Vec<usize> = Vec::with_capacity(want);
        let start = self.tokens.partition_point(|(t, _)| *t < token);
        for step in 0..self.tokens.len() {
            if chosen.len() == want {
                break;
            }
            let Some((_, member)) = self.tokens.get((start + step) % self.tokens.len()) else {
                break;
            };
            if !chosen.contains(member) {
                chosen.push(*member);
            }
        }
        chosen.iter().filter_map(|i| self.members.get(*i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(n: u64) -> Ring {
        let members = (1..=n)
            .map(|i| Member {
                id: node_id_from_address(&format!("127.0.0.{i}:7400")),
                address: format!("127.0.0.{i}:7400"),
            })
            .collect();
        Ring::new(members, 16)
    }

    #[test]
    fn a_single_node_holds_every_replica_it_can() {
        let ring = ring(1);
        assert_eq!(ring.effective_replicas(3), 1);
        for token in [0, 1, u64::MAX / 2, u64::MAX] {
            let replicas = ring.replicas(token, 3);
            assert_eq!(replicas.len(), 1);
            assert_eq!(replicas[0].address, "127.0.0.1:7400");
        }
    }

    #[test]
    fn replicas_are_distinct_and_start_at_the_owning_vnode() {
        let ring = ring(5);
        for i in 0..1000u64 {
            let token = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let replicas = ring.replicas(token, 3);
            assert_eq!(replicas.len(), 3);
            let mut ids: Vec<u64> = replicas.iter().map(|m| m.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), 3, "replicas repeat a node");
            let owner = ring.tokens.iter().find(|(t, _)| *t >= token).unwrap_or(&ring.tokens[0]);
            assert_eq!(replicas[0].id, ring.members[owner.1].id);
        }
        assert_eq!(ring.replicas(7, 9).len(), 5, "RF above the ring is capped at the ring");
    }

    #[test]
    fn vnode_tokens_are_stable() {
        assert_eq!(vnode_tokens(1, 4), vnode_tokens(1, 4));
        assert_ne!(vnode_tokens(1, 4), vnode_tokens(2, 4));
        assert_eq!(node_id_from_address("127.0.0.1:7400"), node_id_from_address("127.0.0.1:7400"));
    }
}
