//! A committed change to one view, as subscribers receive it ([`Change`]).
//!
//! A commit writes each view's changelog entry — the new state of every row it touched — and the
//! change it hands out keeps that entry's bytes: the change's ops (each row with its columns by
//! name) are derived from them only when a consumer first asks ([`Change::ops`]), once for all
//! consumers. A view nobody subscribes to pays nothing for ops it never sends.

use std::sync::{Arc, OnceLock};

use lucarne_protocol::{CommandRef, Op};

use super::StoreError;
use super::rows::read_ops;
use crate::sql::ViewDef;

/// One committed change to one view: what subscribers receive as a `delta`.
#[derive(Debug)]
pub struct Change {
    /// The view.
    pub view: String,
    /// The view's epoch.
    pub epoch: u64,
    /// Version before.
    pub from: u64,
    /// Version after (`from + 1`; equal to `from` for the marker of a new epoch).
    pub to: u64,
    /// Commands whose events changed the view.
    pub acked: Vec<CommandRef>,
    ops: Ops,
}

/// A change's row changes: given, or derived from its changelog entry on first use.
#[derive(Debug)]
enum Ops {
    Given(Vec<Op>),
    Entry { view: Arc<ViewDef>, raw: Vec<u8>, made: OnceLock<Result<Vec<Op>, String>> },
}

/// A change's ops could not be derived from its changelog entry (the subscriber resyncs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("change {view:?} {from}→{to} unreadable: {reason}")]
pub struct UnreadableChange {
    /// The view.
    pub view: String,
    /// Version before.
    pub from: u64,
    /// Version after.
    pub to: u64,
    /// What the decoder said.
    pub reason: String,
}

impl Change {
    /// A change with its ops given.
    pub fn new(
        view: String,
        epoch: u64,
        (from, to): (u64, u64),
        ops: Vec<Op>,
        acked: Vec<CommandRef>,
    ) -> Change {
        Change { view, epoch, from, to, acked, ops: Ops::Given(ops) }
    }

    /// A change whose ops are derived from its encoded changelog entry when first asked for.
    pub(super) fn of_entry(
        view: Arc<ViewDef>,
        epoch: u64,
        (from, to): (u64, u64),
        acked: Vec<CommandRef>,
        raw: Vec<u8>,
    ) -> Change {
        let name = view.name.clone();
        Change { view: name, epoch, from, to, acked, ops: Ops::Entry { view, raw, made: OnceLock::new() } }
    }

    /// Row changes, one per key, in key order.
    pub fn ops(&self) -> Result<&[Op], UnreadableChange> {
        match &self.ops {
            Ops::Given(ops) => Ok(ops),
            Ops::Entry { view, raw, made } => {
                let made = made.get_or_init(|| read_ops(raw, view).map_err(|e: StoreError| e.to_string()));
                made.as_deref().map_err(|reason| UnreadableChange {
                    view: self.view.clone(),
                    from: self.from,
                    to: self.to,
                    reason: reason.clone(),
                })
            }
        }
    }
}

/// Two changes are equal when they say the same to a subscriber (however their ops are held).
impl PartialEq for Change {
    fn eq(&self, other: &Change) -> bool {
        (&self.view, self.epoch, self.from, self.to, &self.acked)
            == (&other.view, other.epoch, other.from, other.to, &other.acked)
            && self.ops() == other.ops()
    }
}
