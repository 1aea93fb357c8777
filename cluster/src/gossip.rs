//! Membership by gossip: every node's versioned [`Endpoint`] state, the merge that spreads it,
//! and liveness from a [`PhiAccrual`] detector per peer.
//!
//! [`Gossiper`] is pure logic: no I/O, no clock, no runtime. The server calls
//! [`Gossiper::tick`] every [`GossipConfig::interval_ms`], sends [`Gossiper::syn`] to each
//! address of [`Gossiper::gossip_targets`], merges the answer with [`Gossiper::merge`] (and the
//! receiver merges the syn and answers with its own `syn`), and acts on the [`Change`]s.
//!
//! # Versions
//! A state is ordered by `(generation, version)`. The generation changes at each start of a
//! node (its start time), so a restarted node always wins over what was known of its previous
//! life; within a generation the version grows, bumped at every tick (the heartbeat) and at
//! every change of the node's own data. A merge replaces a state only by a strictly newer one,
//! so a stale view relayed late never moves a version backwards.
//!
//! **Invariant:** only a node writes its own state. If a peer claims our id with a newer
//! state (a previous life of ours with a later clock, or a duplicate id), we keep our data and
//! raise our generation (or version) above the claim, so that our state wins everywhere.
//!
//! # Liveness
//! A version that advances is a heartbeat for that node's detector, whoever relayed it; a
//! stale or repeated version is not. On [`Gossiper::tick`] a node whose phi exceeds the
//! threshold is marked down ([`Change::Down`], once); the next heartbeat that advances its
//! version marks it up ([`Change::Up`], once). A higher generation is [`Change::Restarted`]:
//! the detector starts afresh, since the old intervals described the old process.
//!
//! Detection time: phi crosses threshold `T` after `T × ln(10) × mean` ms of silence (see
//! [`crate::failure`]), and the mean inter-arrival of versions is about the gossip interval
//! `G` in a small cluster (a bit more in a large one, where a version takes a few rounds to
//! arrive; recorded intervals are capped at 4 × G). The observer notices at its next tick, so:
//! - defaults (`G` = 1000 ms, `T` = 8): down about 18.4 s after the last heartbeat arrived,
//!   at most `18.42 × 4 × G + G` ≈ 75 s in the worst case;
//! - tests (`G` = 100 ms, `T` = 8): about 1.9 s, at most ≈ 7.5 s.
//!
//! [`Gossiper::is_up`] is the instantaneous judgement (phi below the threshold right now) and
//! also excludes [`MemberStatus::Leaving`] nodes, which must not be given new work; the
//! [`Change`] events follow the ticks. Gossip itself still talks to a leaving node.

use std::collections::BTreeMap;

use shoal_net::{Endpoint, MemberStatus};

use crate::failure::PhiAccrual;

/// Cassandra's default phi threshold (`phi_convict_threshold`).
pub const PHI_THRESHOLD_DEFAULT: f64 = 8.0;

/// Cassandra's gossip interval.
pub const INTERVAL_MS_DEFAULT: u64 = 1000;

/// How often gossip runs and how suspicious a silence must be to mark a node down.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GossipConfig {
    /// Gossip round (and heartbeat) period in ms; also the detector's expected interval.
    /// Shorter detects failures sooner for more traffic. Default 1000.
    pub interval_ms: u64,
    /// phi above which a node is down. Lower detects sooner with more false alarms (each step
    /// of 1 is 10× likelier to convict a live node). Default 8.
    pub phi_threshold: f64,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig { interval_ms: INTERVAL_MS_DEFAULT, phi_threshold: PHI_THRESHOLD_DEFAULT }
    }
}

/// What changed in the view of the cluster; each carries the node id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    /// First heard of (counts as up).
    Joined(u64),
    /// Was down, heartbeats again.
    Up(u64),
    /// Silent past the phi threshold.
    Down(u64),
    /// Started again (a higher generation); followed by `Up` if it was down.
    Restarted(u64),
    /// Its data (status, addresses, schema, load, shards, vnodes) changed.
    Updated(u64),
}

/// What we know of one other node.
#[derive(Clone, Debug)]
struct Peer {
    endpoint: Endpoint,
    detector: PhiAccrual,
    /// Marked down by a tick and not heard from since.
    marked_down: bool,
}

/// One node's gossip state: its own endpoint and what it knows of every other node.
#[derive(Clone, Debug)]
pub struct Gossiper {
    me: Endpoint,
    peers: BTreeMap<u64, Peer>,
    config: GossipConfig,
}

impl Gossiper {
    /// A gossiper that knows only itself. If `me.generation` is 0 it becomes `now_ms × 1000`
    /// (the start time in µs, as [`Endpoint::generation`] says), so `now_ms` should be wall
    /// time in that case.
    pub fn new(mut me: Endpoint, config: GossipConfig, now_ms: u64) -> Gossiper {
        if me.generation == 0 {
            me.generation = now_ms.saturating_mul(1000).max(1);
        }
        Gossiper { me, peers: BTreeMap::new(), config }
    }

    /// Our own state.
    pub fn me(&self) -> &Endpoint {
        &self.me
    }

    /// The configuration.
    pub fn config(&self) -> GossipConfig {
        self.config
    }

    /// Sets our life-cycle status (and bumps our version so that it spreads).
    pub fn set_status(&mut self, status: MemberStatus) {
        self.me.status = status;
        self.me.version += 1;
    }

    /// Sets our schema digest (and bumps our version).
    pub fn set_schema_version(&mut self, schema_version: u64) {
        self.me.schema_version = schema_version;
        self.me.version += 1;
    }

    /// Sets our stored bytes (and bumps our version).
    pub fn set_load(&mut self, load_bytes: u64) {
        self.me.load_bytes = load_bytes;
        self.me.version += 1;
    }

    /// One gossip round: bumps our heartbeat version and marks down every peer whose phi now
    /// exceeds the threshold (one [`Change::Down`] per transition).
    pub fn tick(&mut self, now_ms: u64) -> Vec<Change> {
        self.me.version += 1;
        let threshold = self.config.phi_threshold;
        let mut changes = Vec::new();
        for (id, peer) in &mut self.peers {
            if !peer.marked_down && peer.detector.phi(now_ms) > threshold {
                peer.marked_down = true;
                changes.push(Change::Down(*id));
            }
        }
        changes
    }

    /// What to send a peer: every endpoint we know, ours included, by node id.
    pub fn syn(&self) -> Vec<Endpoint> {
        self.endpoints().cloned().collect()
    }

    /// Applies a peer's view: each strictly newer state replaces ours, counts as a heartbeat
    /// and may bring a node up; see the module doc. Returns the changes in the order met.
    pub fn merge(&mut self, received: &[Endpoint], now_ms: u64) -> Vec<Change> {
        let mut changes = Vec::new();
        for endpoint in received {
            if endpoint.node_id == self.me.node_id {
                self.refute(endpoint);
            } else {
                self.merge_peer(endpoint, now_ms, &mut changes);
            }
        }
        changes
    }

    /// Whether `node` may be given work: ourselves always; another node if known, not
    /// leaving, and with phi below the threshold now.
    pub fn is_up(&self, node: u64, now_ms: u64) -> bool {
        if node == self.me.node_id {
            return true;
        }
        self.peers.get(&node).is_some_and(|peer| {
            peer.endpoint.status != MemberStatus::Leaving && self.alive(peer, now_ms)
        })
    }

    /// The suspicion level of `node`: 0 for ourselves, infinite for a node never heard of.
    pub fn phi(&self, node: u64, now_ms: u64) -> f64 {
        if node == self.me.node_id {
            return 0.0;
        }
        self.peers.get(&node).map_or(f64::INFINITY, |peer| peer.detector.phi(now_ms))
    }

    /// Every endpoint we know, ours included, by node id.
    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        let id = self.me.node_id;
        let below = self.peers.range(..id).map(|(_, peer)| &peer.endpoint);
        let above = self.peers.range(id.saturating_add(1)..).map(|(_, peer)| &peer.endpoint);
        below.chain(std::iter::once(&self.me)).chain(above)
    }

    /// The state of `node`, if known.
    pub fn endpoint(&self, node: u64) -> Option<&Endpoint> {
        if node == self.me.node_id {
            return Some(&self.me);
        }
        self.peers.get(&node).map(|peer| &peer.endpoint)
    }

    /// The nodes [`Gossiper::is_up`] accepts, ourselves included, by id.
    pub fn live_nodes(&self, now_ms: u64) -> Vec<u64> {
        self.endpoints()
            .map(|endpoint| endpoint.node_id)
            .filter(|id| self.is_up(*id, now_ms))
            .collect()
    }

    /// The internode addresses to gossip with this round, by Cassandra's rule:
    /// 1. a random live peer;
    /// 2. a random unreachable peer, with probability `unreachable / (live + 1)` (always when
    ///    no peer is live), so that a recovered node is found again;
    /// 3. a random seed if no peer is live or we know fewer nodes than there are seeds (so a
    ///    new node joins, and a partition heals); otherwise, if the live peer was no seed,
    ///    with probability `seeds / (live + unreachable)`.
    ///
    /// `random` is the caller's random number, so the choice is deterministic. Our own
    /// address is never returned (a seed list usually names us), nor any address twice.
    pub fn gossip_targets(&self, seeds: &[String], random: u64, now_ms: u64) -> Vec<String> {
        let own = self.me.internode.as_str();
        let usable = |address: &&str| !address.is_empty() && *address != own;
        let (mut live, mut down) = (Vec::new(), Vec::new());
        for peer in self.peers.values() {
            let list = if self.alive(peer, now_ms) { &mut live } else { &mut down };
            list.push(peer.endpoint.internode.as_str());
        }
        live.retain(usable);
        down.retain(usable);
        let mut seeds: Vec<&str> = seeds.iter().map(String::as_str).filter(usable).collect();
        seeds.sort_unstable();
        seeds.dedup();

        let draws = Draws::new(random);
        let mut targets: Vec<&str> = Vec::with_capacity(3);
        let live_target = pick(&live, draws.live);
        targets.extend(live_target);
        if !down.is_empty() && below(draws.down, down.len(), live.len() + 1) {
            targets.extend(pick(&down, draws.down.rotate_left(32)));
        }
        let known_nodes = self.peers.len() + 1;
        let seed_needed = live.is_empty() || known_nodes < seeds.len();
        let live_was_seed = live_target.is_some_and(|address| seeds.contains(&address));
        let seed_chance = !live_was_seed && below(draws.seed, seeds.len(), live.len() + down.len());
        if seed_needed || seed_chance {
            targets.extend(pick(&seeds, draws.seed.rotate_left(32)));
        }
        let mut unique: Vec<String> = Vec::with_capacity(targets.len());
        for address in targets {
            if !unique.iter().any(|known| known == address) {
                unique.push(address.to_owned());
            }
        }
        unique
    }

    /// The detector's judgement alone (a leaving node is alive).
    fn alive(&self, peer: &Peer, now_ms: u64) -> bool {
        !peer.marked_down && peer.detector.phi(now_ms) <= self.config.phi_threshold
    }

    /// A state about ourselves: never adopted; if it is newer than ours, ours is raised above
    /// it, data unchanged.
    fn refute(&mut self, claim: &Endpoint) {
        if claim.generation > self.me.generation {
            self.me.generation = claim.generation + 1;
            self.me.version += 1;
        } else if claim.generation == self.me.generation
            && (claim.version > self.me.version
                || (claim.version == self.me.version && !same_data(&self.me, claim)))
        {
            // An equal version with other data would leave peers split between two states.
            self.me.version = claim.version + 1;
        }
        assert!(
            (self.me.generation, self.me.version) >= (claim.generation, claim.version),
            "our state must dominate any claim about us",
        );
    }

    fn merge_peer(&mut self, received: &Endpoint, now_ms: u64, changes: &mut Vec<Change>) {
        let id = received.node_id;
        let Some(peer) = self.peers.get_mut(&id) else {
            let mut detector = PhiAccrual::new(self.config.interval_ms);
            detector.heartbeat(now_ms);
            let peer = Peer { endpoint: received.clone(), detector, marked_down: false };
            self.peers.insert(id, peer);
            changes.push(Change::Joined(id));
            return;
        };
        let known = &peer.endpoint;
        if (received.generation, received.version) <= (known.generation, known.version) {
            return;
        }
        if received.generation > known.generation {
            peer.detector = PhiAccrual::new(self.config.interval_ms);
            changes.push(Change::Restarted(id));
        } else if !same_data(known, received) {
            changes.push(Change::Updated(id));
        }
        peer.endpoint = received.clone();
        peer.detector.heartbeat(now_ms);
        if peer.marked_down {
            peer.marked_down = false;
            changes.push(Change::Up(id));
        }
    }
}

/// Whether two states of a node differ only in their version.
fn same_data(a: &Endpoint, b: &Endpoint) -> bool {
    Endpoint { version: b.version, ..a.clone() } == *b
}

/// Independent random draws derived from the caller's one number.
struct Draws {
    live: u64,
    down: u64,
    seed: u64,
}

impl Draws {
    fn new(random: u64) -> Draws {
        let live = mix(random);
        let down = mix(live);
        Draws { live, down, seed: mix(down) }
    }
}

/// SplitMix64's finaliser: spreads every input bit over the output.
fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// True with probability `numerator / denominator` (capped at 1) for a uniform `draw`.
fn below(draw: u64, numerator: usize, denominator: usize) -> bool {
    let denominator = denominator.max(1) as u64;
    draw % denominator < numerator as u64
}

fn pick<'a>(list: &[&'a str], draw: u64) -> Option<&'a str> {
    if list.is_empty() {
        return None;
    }
    let index = usize::try_from(draw % list.len() as u64).unwrap_or(0);
    list.get(index).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 100;
    const THRESHOLD: f64 = 8.0;

    fn config() -> GossipConfig {
        GossipConfig { interval_ms: G, phi_threshold: THRESHOLD }
    }

    fn internode(id: u64) -> String {
        format!("10.0.0.{id}:7500")
    }

    fn endpoint(id: u64, generation: u64) -> Endpoint {
        Endpoint {
            node_id: id,
            address: format!("10.0.0.{id}:7400"),
            internode: internode(id),
            generation,
            status: MemberStatus::Normal,
            shards: 2,
            vnodes: 16,
            ..Endpoint::default()
        }
    }

    fn versioned(id: u64, generation: u64, version: u64) -> Endpoint {
        Endpoint { version, ..endpoint(id, generation) }
    }

    /// A simulated cluster: nodes 1..=n, node 1 the seed, push-pull exchanges every round.
    struct Sim {
        nodes: Vec<Option<Gossiper>>,
        changes: Vec<Vec<(u64, Change)>>,
        seeds: Vec<String>,
        now_ms: u64,
        random: u64,
    }

    impl Sim {
        fn new(n: u64) -> Sim {
            let nodes = (1..=n).map(|id| Some(Gossiper::new(endpoint(id, 1), config(), 0)));
            Sim {
                nodes: nodes.collect(),
                changes: vec![Vec::new(); n as usize],
                seeds: vec![internode(1)],
                now_ms: 0,
                random: 42,
            }
        }

        fn node(&self, id: u64) -> &Gossiper {
            self.nodes[id as usize - 1].as_ref().unwrap()
        }

        fn record(&mut self, index: usize, changes: Vec<Change>) {
            let now_ms = self.now_ms;
            self.changes[index].extend(changes.into_iter().map(|c| (now_ms, c)));
        }

        fn round(&mut self, tick: bool) {
            self.now_ms += G;
            for index in 0..self.nodes.len() {
                if let Some(node) = self.nodes[index].as_mut().filter(|_| tick) {
                    let changes = node.tick(self.now_ms);
                    self.record(index, changes);
                }
            }
            for index in 0..self.nodes.len() {
                let Some(sender) = &self.nodes[index] else { continue };
                self.random = mix(self.random);
                let targets = sender.gossip_targets(&self.seeds, self.random, self.now_ms);
                let syn = sender.syn();
                for target in targets {
                    let port = target.strip_prefix("10.0.0.").unwrap();
                    let id: usize = port.strip_suffix(":7500").unwrap().parse().unwrap();
                    let Some(receiver) = self.nodes[id - 1].as_mut() else { continue };
                    let changes = receiver.merge(&syn, self.now_ms);
                    let ack = receiver.syn();
                    self.record(id - 1, changes);
                    let changes = self.nodes[index].as_mut().unwrap().merge(&ack, self.now_ms);
                    self.record(index, changes);
                }
            }
        }

        fn run(&mut self, rounds: u64) {
            (0..rounds).for_each(|_| self.round(true));
        }

        /// When `observer` saw `change`, each time.
        fn seen(&self, observer: u64, change: Change) -> Vec<u64> {
            let seen = self.changes[observer as usize - 1].iter();
            seen.filter(|(_, c)| *c == change).map(|(t, _)| *t).collect()
        }
    }

    #[test]
    fn three_gossipers_converge_to_the_same_view() {
        let mut sim = Sim::new(3);
        sim.run(300);
        for observer in 1..=3 {
            assert_eq!(sim.node(observer).live_nodes(sim.now_ms), vec![1, 2, 3]);
            for node in 1..=3 {
                assert!(sim.seen(observer, Change::Down(node)).is_empty(), "false alarm");
            }
        }
        // Without new heartbeats, a few exchanges leave every node with the same states.
        (0..10).for_each(|_| sim.round(false));
        let view = sim.node(1).syn();
        assert_eq!(view.len(), 3);
        assert_eq!(sim.node(2).syn(), view);
        assert_eq!(sim.node(3).syn(), view);
        assert!(view.iter().all(|e| e.version == 300), "every node ticked 300 times");
    }

    #[test]
    fn a_dead_node_is_reported_down_once_and_a_restart_brings_it_back() {
        let mut sim = Sim::new(3);
        sim.run(50);
        let killed_ms = sim.now_ms;
        sim.nodes[2] = None;
        sim.run(300);
        for observer in [1, 2] {
            let downs = sim.seen(observer, Change::Down(3));
            assert_eq!(downs.len(), 1, "observer {observer}: {downs:?}");
            let down_ms = downs[0];
            // Exactly when the detector says: at the first tick past the threshold.
            let detector = &sim.node(observer).peers[&3].detector;
            let last_ms = detector.last_arrival_ms().unwrap();
            let due_ms = last_ms as f64 + detector.silence_to_threshold_ms(THRESHOLD);
            assert!(down_ms as f64 >= due_ms && (down_ms as f64) < due_ms + G as f64);
            // The documented bound: about 18.4 × G, never beyond 18.42 × 4 × G + G.
            let after_ms = down_ms - killed_ms;
            assert!((17 * G..=23 * G).contains(&after_ms), "down {after_ms} ms after the kill");
            assert!((after_ms as f64) < (18.42 * 4.0 + 1.0) * G as f64);
            assert!(!sim.node(observer).is_up(3, sim.now_ms));
            assert_eq!(sim.node(observer).live_nodes(sim.now_ms), vec![1, 2]);
        }

        let restarted_ms = sim.now_ms;
        sim.nodes[2] = Some(Gossiper::new(endpoint(3, 2), config(), restarted_ms));
        sim.run(20);
        for observer in [1, 2] {
            let restarted = sim.seen(observer, Change::Restarted(3));
            let up = sim.seen(observer, Change::Up(3));
            assert_eq!((restarted.len(), up.len()), (1, 1), "observer {observer}");
            assert_eq!(restarted, up, "Restarted and Up in the same merge");
            let position = |c| sim.changes[observer as usize - 1].iter().position(|x| x.1 == c);
            assert!(position(Change::Restarted(3)) < position(Change::Up(3)));
            assert_eq!(sim.seen(observer, Change::Down(3)).len(), 1);
            assert!(sim.node(observer).is_up(3, sim.now_ms));
            assert_eq!(sim.node(observer).endpoint(3).unwrap().generation, 2);
        }
        // The old life's states, still gossiped at first, did not change the new one.
        let me = sim.node(3).me();
        assert_eq!((me.generation, me.version), (2, 20));
        assert_eq!(sim.node(3).live_nodes(sim.now_ms), vec![1, 2, 3]);
    }

    #[test]
    fn versions_never_go_backwards_through_a_stale_merge() {
        let mut gossiper = Gossiper::new(endpoint(1, 1), config(), 0);
        assert_eq!(gossiper.merge(&[versioned(2, 5, 10)], 100), vec![Change::Joined(2)]);
        let stale = Endpoint { status: MemberStatus::Leaving, ..versioned(2, 5, 9) };
        assert!(gossiper.merge(&[stale, versioned(2, 4, 99), versioned(2, 5, 10)], 900).is_empty());
        assert_eq!(gossiper.endpoint(2), Some(&versioned(2, 5, 10)));
        // Not a heartbeat either.
        assert_eq!(gossiper.peers[&2].detector.last_arrival_ms(), Some(100));
        let leaving = Endpoint { status: MemberStatus::Leaving, ..versioned(2, 5, 11) };
        assert_eq!(gossiper.merge(&[leaving], 1000), vec![Change::Updated(2)]);
        assert_eq!(gossiper.peers[&2].detector.last_arrival_ms(), Some(1000));
        // Leaving: alive for gossip, not up for serving.
        assert!(!gossiper.is_up(2, 1000));
        assert_eq!(gossiper.gossip_targets(&[], 7, 1000), vec![internode(2)]);
    }

    #[test]
    fn down_on_a_tick_and_up_only_when_the_version_advances() {
        let mut gossiper = Gossiper::new(endpoint(1, 1), config(), 0);
        gossiper.merge(&[versioned(2, 1, 1)], 0);
        assert!(gossiper.tick(1000).is_empty());
        assert!(gossiper.is_up(2, 1000));
        assert!(!gossiper.is_up(2, 2000), "phi is past the threshold before the tick");
        assert_eq!(gossiper.tick(2000), vec![Change::Down(2)]);
        assert!(gossiper.tick(3000).is_empty(), "Down once");
        assert!(gossiper.merge(&[versioned(2, 1, 1)], 3000).is_empty());
        assert!(!gossiper.is_up(2, 3000));
        assert_eq!(gossiper.merge(&[versioned(2, 1, 2)], 3100), vec![Change::Up(2)]);
        assert!(gossiper.is_up(2, 3100));
        assert!(gossiper.phi(2, 3100) < 0.01);
        assert_eq!(gossiper.phi(1, 3100), 0.0);
        assert_eq!(gossiper.phi(9, 3100), f64::INFINITY);
        assert!(!gossiper.is_up(9, 3100));
    }

    #[test]
    fn a_stale_state_about_ourselves_does_not_change_us() {
        let mut gossiper = Gossiper::new(endpoint(1, 5), config(), 0);
        gossiper.tick(100);
        gossiper.set_load(77);
        let me = gossiper.me().clone();
        assert_eq!(me.version, 2);
        let older = [
            Endpoint { load_bytes: 1, ..versioned(1, 4, 100) },
            Endpoint { load_bytes: 1, ..versioned(1, 5, 1) },
            me.clone(),
        ];
        assert!(gossiper.merge(&older, 200).is_empty());
        assert_eq!(gossiper.me(), &me);
        assert!(gossiper.peers.is_empty());
    }

    #[test]
    fn a_newer_claim_about_ourselves_raises_our_state_above_it() {
        let mut gossiper = Gossiper::new(endpoint(1, 5), config(), 0);
        gossiper.set_load(77);
        let claim = Endpoint { load_bytes: 1, ..versioned(1, 9, 3) };
        gossiper.merge(&[claim], 100);
        let me = gossiper.me();
        assert_eq!((me.generation, me.load_bytes), (10, 77));
        let claim = Endpoint { load_bytes: 1, ..versioned(1, 10, 40) };
        gossiper.merge(std::slice::from_ref(&claim), 200);
        let me = gossiper.me();
        assert_eq!((me.generation, me.version, me.load_bytes), (10, 41, 77));
        // The peer that sent the claim takes ours.
        let mut peer = Gossiper::new(endpoint(2, 1), config(), 0);
        peer.merge(&[claim], 200);
        peer.merge(&gossiper.syn(), 300);
        assert_eq!(peer.endpoint(1), Some(gossiper.me()));
    }

    #[test]
    fn gossip_targets_never_include_ourselves_and_include_a_seed_when_alone() {
        let mut gossiper = Gossiper::new(endpoint(1, 1), config(), 0);
        let seeds = [internode(1), internode(7)];
        for random in 0..200 {
            assert_eq!(gossiper.gossip_targets(&seeds, random, 0), vec![internode(7)]);
            assert!(gossiper.gossip_targets(&seeds[..1], random, 0).is_empty());
        }
        // A stale peer entry on our own address is never a target either.
        let impostor = Endpoint { internode: internode(1), ..versioned(8, 1, 1) };
        gossiper.merge(&[versioned(2, 1, 1), versioned(3, 1, 1), impostor], 0);
        gossiper.merge(&[versioned(4, 1, 1)], 0);
        gossiper.merge(&[versioned(4, 1, 2)], 3000);
        gossiper.tick(3000);
        assert_eq!(gossiper.live_nodes(3000), vec![1, 4]);
        let (mut down_chosen, mut seed_chosen) = (0, 0);
        for random in 0..1000 {
            let targets = gossiper.gossip_targets(&seeds, random, 3000);
            assert!(!targets.contains(&internode(1)));
            assert_eq!(targets.first(), Some(&internode(4)), "the one live peer first");
            let mut unique = targets.clone();
            unique.dedup();
            assert_eq!(unique, targets);
            down_chosen += targets.iter().filter(|t| [2, 3].map(internode).contains(t)).count();
            seed_chosen += usize::from(targets.contains(&internode(7)));
        }
        // Down peers: probability 2 / (1 + 1) = 1; the seed: 1 / (1 + 3) by chance alone.
        assert_eq!(down_chosen, 1000);
        assert!((150..350).contains(&seed_chosen), "seed {seed_chosen} / 1000");
    }
}
