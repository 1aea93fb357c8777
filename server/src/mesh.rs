//! Cross-core messages: a full mesh of bounded single-producer channels between shards
//! (glommio's `channel_mesh`). Bodies are flatbuffers (the protocol's requests and
//! responses), so a forwarded request is the very bytes the client sent.
//!
//! A call sends `Request{from, tag, body}` and waits for the `Reply` with the same tag.
//! Replies are sent from the task that executed the request, never from the receive loop,
//! so a receive loop never blocks on a full channel and two shards cannot deadlock.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use glommio::channels::channel_mesh::{Receivers, Senders};

use shoal_engine::runtime::{oneshot, OneshotSender};

/// Capacity of each channel between two shards: the most messages in flight one way.
pub const CHANNEL_CAPACITY: usize = 1024;

/// What travels between cores.
pub enum MeshMessage {
    /// Execute a request (an encoded `Request`) as its owner.
    Request {
        /// Sending shard.
        from: usize,
        /// Matches the reply.
        tag: u64,
        /// Encoded request.
        body: Vec<u8>,
    },
    /// Replace the catalog with these tables (an encoded `Response` holding a table list).
    Catalog {
        /// Sending shard.
        from: usize,
        /// Matches the reply.
        tag: u64,
        /// Encoded response.
        body: Vec<u8>,
    },
    /// The answer to a `Request` or `Catalog`.
    Reply {
        /// The call's tag.
        tag: u64,
        /// Encoded response (empty for `Catalog`).
        body: Vec<u8>,
    },
}

/// This shard's end of the mesh.
pub struct Mesh {
    senders: Senders<MeshMessage>,
    pending: RefCell<HashMap<u64, OneshotSender<Vec<u8>>>>,
    next_tag: Cell<u64>,
}

impl Mesh {
    /// Wraps the senders of a joined mesh; the receivers go to [`Mesh::take_streams`].
    pub fn new(senders: Senders<MeshMessage>) -> Mesh {
        Mesh { senders, pending: RefCell::new(HashMap::new()), next_tag: Cell::new(1) }
    }

    /// Per peer, the stream of its messages to us.
    pub fn take_streams(
        receivers: &mut Receivers<MeshMessage>,
    ) -> Vec<(usize, glommio::channels::shared_channel::ConnectedReceiver<MeshMessage>)> {
        receivers.streams()
    }

    /// Sends a request or catalog to `to` and waits for its reply.
    ///
    /// # Errors
    /// The peer's channel is closed (it stopped).
    pub async fn call(
        &self,
        to: usize,
        make: impl FnOnce(u64) -> MeshMessage,
    ) -> Result<Vec<u8>, String> {
        let tag = self.next_tag.get();
        self.next_tag.set(tag + 1);
        let (tx, rx) = oneshot();
        self.pending.borrow_mut().insert(tag, tx);
        if self.senders.send_to(to, make(tag)).await.is_err() {
            self.pending.borrow_mut().remove(&tag);
            return Err(format!("shard {to} is not accepting messages (shutting down)"));
        }
        rx.await.ok_or_else(|| format!("shard {to} dropped the request"))
    }

    /// Sends a reply; a closed channel means the caller's shard stopped, and nobody waits.
    pub async fn reply(&self, to: usize, tag: u64, body: Vec<u8>) {
        let _ = self.senders.send_to(to, MeshMessage::Reply { tag, body }).await;
    }

    /// Delivers a reply to its waiting call.
    pub fn complete(&self, tag: u64, body: Vec<u8>) {
        if let Some(tx) = self.pending.borrow_mut().remove(&tag) {
            tx.send(body);
        }
    }

    /// Closes our sending side (shutdown).
    pub fn close(&self) {
        self.senders.close();
    }
}
