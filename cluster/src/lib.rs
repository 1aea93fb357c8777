//! Shoal's cluster layer. For now: [`ring`], the token ring with virtual nodes and replica
//! placement. Membership (gossip, failure detection), coordination at a consistency level,
//! read repair, hinted handoff and repair come with the cluster issue.
#![deny(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod ring;

pub use ring::{node_id_from_address, vnode_tokens, Member, Ring};
