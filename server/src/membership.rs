//! The node's view of the cluster: gossip (on shard 0) feeds a [`ClusterView`] that every
//! shard reads (ring, endpoints, liveness), published as an immutable snapshot.
//!
//! Nodes that start together form the ring: every endpoint learnt by gossip is a ring
//! member with vnode tokens derived from its id. A node that is down stays in the ring
//! (ownership does not move on a temporary failure, as in Dynamo); writes meant for it
//! become hints.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use shoal_cluster::gossip::{Change, GossipConfig, Gossiper};
use shoal_cluster::{Member, Ring};
use shoal_engine::runtime::{sleep, spawn, Queue};
use shoal_net::{Endpoint, MemberStatus, NodeView, Request, RequestHeader, ResponseBody};

use crate::shard::Shard;

/// What every shard knows of the cluster at one moment.
#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    /// The ring of every known node.
    pub ring: Ring,
    /// Every known node's gossip state, by id.
    pub endpoints: BTreeMap<u64, Endpoint>,
    /// Nodes judged alive (this node always).
    pub up: BTreeSet<u64>,
    /// Suspicion level of each node.
    pub phi: BTreeMap<u64, f64>,
}

impl ClusterView {
    /// A view holding only this node.
    pub fn single(me: Endpoint) -> ClusterView {
        let mut view = ClusterView::default();
        view.up.insert(me.node_id);
        view.endpoints.insert(me.node_id, me);
        view.rebuild_ring();
        view
    }

    fn rebuild_ring(&mut self) {
        let members: Vec<Member> = self
            .endpoints
            .values()
            .map(|e| Member { id: e.node_id, address: e.address.clone() })
            .collect();
        let vnodes = self.endpoints.values().map(|e| e.vnodes).max().unwrap_or(16);
        self.ring = Ring::new(members, vnodes);
    }

    /// Whether `node` is judged alive.
    pub fn is_up(&self, node: u64) -> bool {
        self.up.contains(&node)
    }

    /// The nodes as `shoal admin status` shows them.
    pub fn node_views(&self) -> Vec<NodeView> {
        let mut tokens: BTreeMap<u64, u32> = BTreeMap::new();
        for (_, member) in self.ring.tokens() {
            *tokens.entry(member.id).or_default() += 1;
        }
        self.endpoints
            .values()
            .map(|e| NodeView {
                endpoint: e.clone(),
                up: self.is_up(e.node_id),
                phi: self.phi.get(&e.node_id).copied().unwrap_or(0.0),
                tokens: tokens.get(&e.node_id).copied().unwrap_or(0),
            })
            .collect()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A cheap random number for gossip target choice (no crate needed).
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_ms());
    hasher.finish()
}

/// Shard 0's gossip state.
pub struct Membership {
    gossiper: std::cell::RefCell<Gossiper>,
}

impl Membership {
    /// Starts gossip with this node as its only member.
    pub fn new(me: Endpoint, interval_ms: u64, phi_threshold: f64) -> Membership {
        let config = GossipConfig { interval_ms, phi_threshold };
        Membership { gossiper: std::cell::RefCell::new(Gossiper::new(me, config, now_ms())) }
    }

    /// Applies a peer's gossip and returns our view to send back.
    pub fn on_gossip(&self, shard: &Shard, endpoints: &[Endpoint]) -> Vec<Endpoint> {
        let changes = self.gossiper.borrow_mut().merge(endpoints, now_ms());
        self.after_changes(shard, &changes);
        self.gossiper.borrow().syn()
    }

    /// Marks this node as leaving (shutdown) so peers stop counting on it at once.
    pub fn set_status(&self, status: MemberStatus) {
        self.gossiper.borrow_mut().set_status(status);
    }

    /// Sets the schema digest peers compare with theirs.
    pub fn set_schema_version(&self, version: u64) {
        self.gossiper.borrow_mut().set_schema_version(version);
    }

    fn after_changes(&self, shard: &Shard, changes: &[Change]) {
        for change in changes {
            match change {
                Change::Down(id) => tracing::warn!(node = id, "node down"),
                Change::Up(id) => tracing::info!(node = id, "node up"),
                Change::Joined(id) => tracing::info!(node = id, "node joined the ring"),
                Change::Restarted(id) => tracing::info!(node = id, "node restarted"),
                Change::Updated(_) => {}
            }
        }
        self.publish(shard);
    }

    /// Publishes the current view to every shard.
    pub fn publish(&self, shard: &Shard) {
        let now = now_ms();
        let gossiper = self.gossiper.borrow();
        let mut view = ClusterView::default();
        for e in gossiper.endpoints() {
            view.endpoints.insert(e.node_id, e.clone());
            view.phi.insert(e.node_id, gossiper.phi(e.node_id, now));
            if gossiper.is_up(e.node_id, now) {
                view.up.insert(e.node_id);
            }
        }
        view.rebuild_ring();
        shard.node.publish_view(view);
    }

    /// Sends our state to every known peer once (at shutdown), waiting briefly.
    pub async fn gossip_once(&self, shard: &Rc<Shard>) {
        let Some(peers) = &shard.peers else { return };
        let syn = self.gossiper.borrow().syn();
        let me = shard.node.settings.node_id;
        let targets: Vec<String> =
            syn.iter().filter(|e| e.node_id != me).map(|e| e.internode.clone()).collect();
        for target in targets {
            let request = Request::Gossip { endpoints: syn.clone() };
            let _ = peers
                .call(&target, RequestHeader::default(), request, Duration::from_millis(200))
                .await;
        }
    }

    /// One gossip round every interval until the node stops.
    pub async fn run(self: Rc<Self>, shard: Rc<Shard>) {
        let interval = Duration::from_millis(shard.node.settings.gossip_interval_ms);
        let seeds = shard.node.settings.seeds.clone();
        while !shard.node.stopping() {
            let now = now_ms();
            let load: u64 = shard
                .node
                .metrics
                .iter()
                .map(|m| m.stored_bytes.load(std::sync::atomic::Ordering::Relaxed))
                .sum();
            if load != self.gossiper.borrow().me().load_bytes {
                self.gossiper.borrow_mut().set_load(load);
            }
            let changes = self.gossiper.borrow_mut().tick(now);
            self.after_changes(&shard, &changes);
            let targets = self.gossiper.borrow().gossip_targets(&seeds, random(), now);
            let syn = self.gossiper.borrow().syn();
            let my_schema = self.gossiper.borrow().me().schema_version;
            for target in targets {
                let me = self.clone();
                let shard = shard.clone();
                let syn = syn.clone();
                spawn(Queue::Foreground, async move {
                    let Some(peers) = &shard.peers else { return };
                    let timeout = interval.max(Duration::from_millis(200));
                    let request = Request::Gossip { endpoints: syn };
                    if let Ok(response) =
                        peers.call(&target, RequestHeader::default(), request, timeout).await
                    {
                        if let ResponseBody::Gossip(endpoints) = response.body {
                            let stale_schema: Vec<String> = endpoints
                                .iter()
                                .filter(|e| e.schema_version != my_schema && e.internode == target)
                                .map(|e| e.internode.clone())
                                .collect();
                            let changes = me.gossiper.borrow_mut().merge(&endpoints, now_ms());
                            me.after_changes(&shard, &changes);
                            for peer in stale_schema {
                                crate::schema::exchange_with(&shard, &peer).await;
                            }
                        }
                    }
                });
            }
            sleep(interval).await;
        }
    }
}

/// Publishes a new view (called by shard 0's gossip) for every shard to read.
pub fn install(node: &crate::shard::NodeContext, view: ClusterView) {
    if let Ok(mut slot) = node.view.write() {
        *slot = Arc::new(view);
    }
}
