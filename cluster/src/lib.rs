//! Shoal's cluster layer: [`ring`], the token ring with virtual nodes and replica placement;
//! [`gossip`], membership by versioned endpoint states; [`failure`], the phi-accrual failure
//! detector gossip uses. Coordination at a consistency level, read repair, hinted handoff and
//! repair come with the cluster issue.
#![deny(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod failure;
pub mod gossip;
pub mod ring;

pub use failure::PhiAccrual;
pub use gossip::{Change, GossipConfig, Gossiper};
pub use ring::{node_id_from_address, vnode_tokens, Member, Ring};
