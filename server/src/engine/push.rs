//! The engine's platform push: pushes switched on with their config and the registrations kept
//! from before, the sender started; registrations made and forgotten (kept in the store, in
//! force at once). What is pushed is decided in the commit (see `crate::push`).

use std::sync::Arc;

use super::{Engine, blocking};
use crate::push::{PushConfig, Pushes, RegisterError, Registration, Stored};
use crate::store::StoreError;

impl Engine {
    /// Platform push: the registrations in force and who is connected.
    pub fn pushes(&self) -> &Arc<Pushes> {
        &self.shared.pushes
    }

    /// Switches pushes on: the registrations kept in the store are put in force again (those
    /// whose interest no longer applies to its view are skipped, and logged) and the sender
    /// starts on the current tokio runtime. Returns how many are in force. Once only: a second
    /// call changes nothing.
    pub async fn enable_push(self: &Arc<Self>, config: PushConfig) -> Result<usize, StoreError> {
        let config = Arc::new(config);
        if !self.shared.pushes.set_config(config.clone()) {
            return Ok(self.shared.pushes.len());
        }
        let store = self.shared.store.clone();
        for (id, bytes) in blocking(move || store.push_registrations()).await? {
            let stored: Stored = match serde_json::from_slice(&bytes) {
                Ok(stored) => stored,
                Err(e) => {
                    tracing::error!(registration = %id, "a kept push registration does not read: {e}");
                    continue;
                }
            };
            let query = match self.view_columns(&stored.interest.view).await {
                Ok(columns) => stored.compile(&columns),
                Err(e) => Err(e.to_string()),
            };
            match query {
                Ok(query) => {
                    if let Err(e) = self.shared.pushes.insert(Registration::new(stored, query), &config) {
                        tracing::warn!(registration = %id, "a kept push registration is not put in force: {e}");
                    }
                }
                Err(e) => {
                    tracing::warn!(registration = %id, "a kept push registration no longer applies: {e}")
                }
            }
        }
        tokio::spawn(crate::push::deliver::run(
            self.shared.store.clone(),
            self.shared.pushes.clone(),
            config,
        ));
        // Pushes left in the outbox by the last run go now.
        self.shared.pushes.wake();
        Ok(self.shared.pushes.len())
    }

    /// Puts a registration in force and keeps it; returns its id.
    pub async fn register_push(&self, registration: Registration) -> Result<String, RegisterError> {
        let Some(config) = self.shared.pushes.config().cloned() else {
            return Err(RegisterError::OverBudget("this server sends no pushes".into()));
        };
        let id = registration.id.clone();
        let bytes = serde_json::to_vec(&registration.stored).map_err(StoreError::from)?;
        let (store, key) = (self.shared.store.clone(), id.clone());
        blocking(move || store.put_push_registration(&key, &bytes)).await?;
        if let Err(e) = self.shared.pushes.insert(registration, &config) {
            let (store, key) = (self.shared.store.clone(), id.clone());
            blocking(move || store.remove_push_registration(&key)).await?;
            return Err(e);
        }
        Ok(id)
    }

    /// Queues a push now to every registration of `client_id`, connected or not, titled
    /// `title`; returns the registrations.
    pub async fn test_push(&self, client_id: &str, title: &str) -> Result<Vec<String>, StoreError> {
        let registrations = self.shared.pushes.of_client(client_id);
        let planned: Vec<crate::store::Planned> = registrations
            .iter()
            .map(|r| crate::store::Planned {
                registration: r.id.clone(),
                payload: crate::push::test_notice(r, title),
                changes: 0,
            })
            .collect();
        let ids = planned.iter().map(|p| p.registration.clone()).collect();
        let store = self.shared.store.clone();
        blocking(move || store.queue_forced_pushes(&planned)).await?;
        self.shared.pushes.wake();
        Ok(ids)
    }

    /// Forgets a registration of `client_id`'s; false when it has none of that id.
    pub async fn unregister_push(&self, client_id: &str, id: &str) -> Result<bool, StoreError> {
        match self.shared.pushes.get(id) {
            Some(r) if r.stored.client_id == client_id => {}
            _ => return Ok(false),
        }
        self.shared.pushes.remove(id);
        let (store, key) = (self.shared.store.clone(), id.to_owned());
        blocking(move || store.remove_push_registration(&key)).await?;
        Ok(true)
    }
}
