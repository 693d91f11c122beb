//! Definitions made at runtime through the log's `$views` stream: views (`define_view`,
//! `drop_view`: a building slot, or the view's slots deleted), commands (`define_command`,
//! `drop_command`) and search indexes (`define_search`, `drop_search`), each kept in its table
//! in the commit of its event.

use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde_json::Value;

use super::{
    DEFINED, DEFINED_COMMANDS, DEFINED_SEARCHES, Numbering, SLOTS, Store, StoreError, VIEWS_STREAM,
    ViewChange, delete_slot, new_epoch, read_slots,
};
use crate::log::Event;
use crate::sql::parse_view;

impl Store {
    /// Applies `$views` events: a definition makes a building slot, a drop deletes the view's slots.
    pub(super) fn apply_view_events(
        &self,
        txn: &WriteTransaction,
        events: &[Event],
    ) -> Result<Vec<ViewChange>, StoreError> {
        let mut out = Vec::new();
        for event in events.iter().filter(|e| e.stream == VIEWS_STREAM) {
            match (event.kind.as_str(), event.payload.get("sql"), event.payload.get("name")) {
                ("define_view", Some(Value::String(sql)), _) => {
                    let def =
                        parse_view(sql).map_err(|e| StoreError::BadDefinition("(runtime)".into(), e))?;
                    // A slot still building for the same name is superseded.
                    let slots = read_slots(&txn.open_table(SLOTS)?)?;
                    for (other, m) in slots {
                        if m.name == def.name && m.building.is_some() {
                            delete_slot(txn, &other)?;
                        }
                    }
                    txn.open_table(DEFINED)?
                        .insert(def.name.as_str(), serde_json::to_vec(&Some(&def.sql))?.as_slice())?;
                    let name = def.name.clone();
                    let epoch = match self.numbering {
                        Numbering::Commits => new_epoch(),
                        Numbering::Log => event.position,
                    };
                    let (_, epoch) = self.new_slot(txn, Arc::new(def), epoch)?;
                    out.push(ViewChange::Building { name, epoch, origin: event.origin.clone() });
                }
                ("drop_view", _, Some(Value::String(name))) => {
                    let slots = read_slots(&txn.open_table(SLOTS)?)?;
                    for (slot, m) in slots {
                        if &m.name == name {
                            delete_slot(txn, &slot)?;
                        }
                    }
                    txn.open_table(DEFINED)?
                        .insert(name.as_str(), serde_json::to_vec(&None::<String>)?.as_slice())?;
                    out.push(ViewChange::Dropped { name: name.clone() });
                }
                ("define_command", _, _) if event.payload.get("spec").is_some_and(Value::is_string) => {
                    let spec = event.payload["spec"].as_str().unwrap_or_default().to_owned();
                    let name = event.payload.get("name").and_then(Value::as_str).unwrap_or_default();
                    txn.open_table(DEFINED_COMMANDS)?
                        .insert(name, serde_json::to_vec(&Some(&spec))?.as_slice())?;
                    out.push(ViewChange::CommandDefined { spec });
                }
                ("drop_command", _, Some(Value::String(name))) => {
                    txn.open_table(DEFINED_COMMANDS)?
                        .insert(name.as_str(), serde_json::to_vec(&None::<String>)?.as_slice())?;
                    out.push(ViewChange::CommandDropped { name: name.clone() });
                }
                ("define_search", Some(Value::String(sql)), Some(Value::String(name))) => {
                    txn.open_table(DEFINED_SEARCHES)?
                        .insert(name.as_str(), serde_json::to_vec(&Some(sql))?.as_slice())?;
                    out.push(ViewChange::SearchDefined { name: name.clone(), sql: sql.clone() });
                }
                ("drop_search", _, Some(Value::String(name))) => {
                    txn.open_table(DEFINED_SEARCHES)?
                        .insert(name.as_str(), serde_json::to_vec(&None::<String>)?.as_slice())?;
                    out.push(ViewChange::SearchDropped { name: name.clone() });
                }
                _ => tracing::warn!(position = event.position, "ignoring a malformed {VIEWS_STREAM} event"),
            }
        }
        Ok(out)
    }

    /// The commands defined (route spec) or dropped (`None`) at runtime, by name.
    pub fn defined_commands(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        self.defined(DEFINED_COMMANDS)
    }

    /// The search indexes defined (their `CREATE SEARCH INDEX`) or dropped (`None`) at runtime,
    /// by name.
    pub fn defined_searches(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        self.defined(DEFINED_SEARCHES)
    }

    /// A table of runtime definitions: each name's definition, or `None` once dropped.
    fn defined(
        &self,
        table: redb::TableDefinition<'_, &str, &[u8]>,
    ) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let mut out = Vec::new();
        for entry in txn.open_table(table)?.iter()? {
            let (name, definition) = entry?;
            out.push((name.value().to_owned(), serde_json::from_slice(definition.value())?));
        }
        Ok(out)
    }
}
