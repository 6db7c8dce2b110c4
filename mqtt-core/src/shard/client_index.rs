//! The shard's client identifier → session index.
//!
//! Every connected client has an entry, so it is kept small: an entry is the identifier's
//! hash and the session, 16 bytes, and the identifier itself is stored once, in the
//! session's [`ClientInfo`](crate::auth::ClientInfo). A table keyed by the identifier would
//! hold a 32-byte `ByteString` per entry (plus its spare slots) and a second handle on the
//! identifier, whose sharing allocates.

use core::hash::BuildHasher;

use hashbrown::HashTable;

use crate::ids::SessionId;
use crate::session::{ProcessKeys, SessionTable};

/// Client identifier → session, resolved against the session table.
#[derive(Debug, Default)]
pub(crate) struct ClientIndex {
    table: HashTable<(u64, SessionId)>,
}

fn hash(id: &str) -> u64 {
    ProcessKeys.hash_one(id)
}

impl ClientIndex {
    /// The session of `id`.
    pub(crate) fn get(&self, id: &str, sessions: &SessionTable) -> Option<SessionId> {
        let h = hash(id);
        self.table
            .find(h, |&(eh, sid)| {
                eh == h
                    && sessions
                        .get(&sid)
                        .is_some_and(|s| &*s.client.client_id == id)
            })
            .map(|&(_, sid)| sid)
    }

    /// Whether `id` has a session.
    pub(crate) fn contains(&self, id: &str, sessions: &SessionTable) -> bool {
        self.get(id, sessions).is_some()
    }

    /// Points `id` at `sid`, replacing its previous session (or an entry of the same hash
    /// whose session is gone).
    pub(crate) fn insert(&mut self, id: &str, sid: SessionId, sessions: &SessionTable) {
        let h = hash(id);
        let same = |&(eh, old): &(u64, SessionId)| {
            eh == h
                && sessions
                    .get(&old)
                    .is_none_or(|s| &*s.client.client_id == id)
        };
        if let Some(entry) = self.table.find_mut(h, same) {
            entry.1 = sid;
        } else {
            self.table.insert_unique(h, (h, sid), |&(eh, _)| eh);
        }
    }

    /// Removes the entry of `id` if it names `sid`.
    pub(crate) fn remove(&mut self, id: &str, sid: SessionId) {
        let h = hash(id);
        if let Ok(entry) = self.table.find_entry(h, |&(eh, s)| eh == h && s == sid) {
            entry.remove();
        }
    }
}
